variable "project" {
  description = "The project."
  type        = string
}

variable "environment" {
  description = "The environment."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "instance_class" {
  description = "See the module's instance_class."
  type        = string
}

variable "multi_az" {
  description = "See the module's multi_az."
  type        = bool
}

variable "backup_retention_days" {
  description = "See the module's backup_retention_days."
  type        = number
}

variable "deletion_protection" {
  description = "See the module's deletion_protection."
  type        = bool
}
