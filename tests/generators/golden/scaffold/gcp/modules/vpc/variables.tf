variable "name" {
  description = "Name of the network and prefix of what it creates."
  type        = string
}

variable "region" {
  description = "Region of the subnetwork."
  type        = string
}

variable "cidr" {
  description = "Primary range of the subnetwork (nodes)."
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range for pods."
  type        = string
  default     = "10.16.0.0/14"
}

variable "services_cidr" {
  description = "Secondary range for services."
  type        = string
  default     = "10.20.0.0/20"
}
