variable "name" {
  description = "Name of the cluster and prefix of what it creates."
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

variable "resource_group_name" {
  description = "Resource group."
  type        = string
}

variable "subnet_id" {
  description = "Subnet for the nodes."
  type        = string
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "vm_size" {
  description = "Node size."
  type        = string
  default     = "Standard_D4s_v5"
}

variable "node_min" {
  description = "Fewest nodes."
  type        = number
  default     = 2
}

variable "node_max" {
  description = "Most nodes."
  type        = number
  default     = 5
}
