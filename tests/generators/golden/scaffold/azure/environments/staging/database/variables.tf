variable "project" {
  description = "The project."
  type        = string
}

variable "environment" {
  description = "The environment."
  type        = string
}

variable "subscription_id" {
  description = "Azure subscription."
  type        = string
}

variable "sku_name" {
  description = "See the module's sku_name."
  type        = string
}

variable "backup_retention_days" {
  description = "See the module's backup_retention_days."
  type        = number
}

variable "geo_redundant_backup" {
  description = "See the module's geo_redundant_backup."
  type        = bool
}

variable "admin_password" {
  description = "Administrator password: set TF_VAR_admin_password, never in a file."
  type        = string
  sensitive   = true
}
