variable "name" {
  description = "Name of the VPC and prefix of what it creates."
  type        = string
}

variable "tags" {
  description = "Tags (labels) set on everything."
  type        = map(string)
  default     = {}
}

variable "cidr" {
  description = "The VPC's address range."
  type        = string
  default     = "10.0.0.0/16"
  validation {
    condition     = can(cidrnetmask(var.cidr))
    error_message = "A CIDR block, e.g. 10.0.0.0/16."
  }
}

variable "az_count" {
  description = "Availability zones to spread subnets over."
  type        = number
  default     = 3
}
