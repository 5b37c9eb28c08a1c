variable "name" {
  description = "Name of the database and prefix of what it creates."
  type        = string
}

variable "tags" {
  description = "Tags (labels) set on everything."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the database."
  type        = list(string)
}

variable "allowed_cidrs" {
  description = "Who may connect (the VPC's range)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "Instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  description = "Storage (GiB) at creation."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 100
}

variable "database_name" {
  description = "The database created with the instance."
  type        = string
  default     = "app"
}

variable "username" {
  description = "Master user (its password lives in Secrets Manager)."
  type        = string
  default     = "app_admin"
}

variable "multi_az" {
  description = "A standby in a second AZ."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse to delete the instance."
  type        = bool
  default     = true
}
