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

variable "node_instance_types" {
  description = "See the module's node_instance_types."
  type        = list(string)
}

variable "node_min" {
  description = "See the module's node_min."
  type        = number
}

variable "node_max" {
  description = "See the module's node_max."
  type        = number
}
