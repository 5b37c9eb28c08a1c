variable "project" {
  description = "The project."
  type        = string
}

variable "environment" {
  description = "The environment."
  type        = string
}

variable "project_id" {
  description = "Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region."
  type        = string
}

variable "tier" {
  description = "See the module's tier."
  type        = string
}

variable "high_availability" {
  description = "See the module's high_availability."
  type        = bool
}

variable "deletion_protection" {
  description = "See the module's deletion_protection."
  type        = bool
}
