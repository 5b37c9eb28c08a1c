variable "name" {
  description = "Name of the instance."
  type        = string
}

variable "region" {
  description = "Region."
  type        = string
}

variable "network_id" {
  description = "VPC network with private services access."
  type        = string
}

variable "database_version" {
  description = "Cloud SQL engine version."
  type        = string
  default     = "POSTGRES_16"
}

variable "tier" {
  description = "Machine tier."
  type        = string
  default     = "db-custom-2-7680"
}

variable "high_availability" {
  description = "A standby in a second zone."
  type        = bool
  default     = false
}

variable "database_name" {
  description = "The database to create."
  type        = string
  default     = "app"
}

variable "deletion_protection" {
  description = "Refuse to delete the instance."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels."
  type        = map(string)
  default     = {}
}
