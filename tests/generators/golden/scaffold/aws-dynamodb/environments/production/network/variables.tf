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

variable "cidr" {
  description = "See the module's cidr."
  type        = string
}

variable "az_count" {
  description = "See the module's az_count."
  type        = number
}
