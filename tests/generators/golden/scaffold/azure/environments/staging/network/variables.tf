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

variable "location" {
  description = "Azure region."
  type        = string
}

variable "cidr" {
  description = "See the module's cidr."
  type        = string
}
