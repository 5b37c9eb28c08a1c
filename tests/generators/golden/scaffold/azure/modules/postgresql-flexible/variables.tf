variable "name" {
  description = "Name of the server and prefix of what it creates."
  type        = string
}

variable "tags" {
  description = "Tags (labels) set on everything."
  type        = map(string)
  default     = {}
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group."
  type        = string
}

variable "vnet_id" {
  description = "Virtual network (for the private DNS zone)."
  type        = string
}

variable "subnet_id" {
  description = "Subnet delegated to flexible servers."
  type        = string
}

variable "postgres_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "sku_name" {
  description = "Compute tier and size."
  type        = string
  default     = "GP_Standard_D2ds_v5"
}

variable "storage_mb" {
  description = "Storage (MiB)."
  type        = number
  default     = 32768
}

variable "backup_retention_days" {
  description = "Days of backups."
  type        = number
  default     = 7
}

variable "geo_redundant_backup" {
  description = "Backups copied to the paired region."
  type        = bool
  default     = false
}

variable "database_name" {
  description = "The database to create."
  type        = string
  default     = "app"
}

variable "admin_login" {
  description = "Administrator login."
  type        = string
  default     = "app_admin"
}

variable "admin_password" {
  description = "Administrator password: set TF_VAR_admin_password, never in a file."
  type        = string
  sensitive   = true
}
