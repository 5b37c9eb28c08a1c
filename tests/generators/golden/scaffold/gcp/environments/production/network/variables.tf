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

variable "cidr" {
  description = "See the module's cidr."
  type        = string
}
