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

variable "vm_size" {
  description = "See the module's vm_size."
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
