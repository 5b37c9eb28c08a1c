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

variable "machine_type" {
  description = "See the module's machine_type."
  type        = string
}

variable "node_min" {
  description = "See the module's node_min."
  type        = number
}

variable "node_max" {
  description = "See the module's node_max."
  type        = number
}

variable "deletion_protection" {
  description = "See the module's deletion_protection."
  type        = bool
}
