variable "name" {
  description = "Name of the cluster and prefix of what it creates."
  type        = string
}

variable "tags" {
  description = "Tags (labels) set on everything."
  type        = map(string)
  default     = {}
}

variable "subnet_ids" {
  description = "Private subnets for the control plane ENIs and nodes."
  type        = list(string)
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "public_endpoint" {
  description = "Whether the API server is reachable from the internet."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "Who may reach a public API endpoint."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "node_instance_types" {
  description = "Instance types of the default node group."
  type        = list(string)
  default     = ["m6i.large"]
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
