variable "name" {
  description = "Name of the virtual network and prefix of what it creates."
  type        = string
}

variable "tags" {
  description = "Tags (labels) set on everything."
  type        = map(string)
  default     = {}
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "cidr" {
  description = "The virtual network's address space."
  type        = string
  default     = "10.30.0.0/16"
}
