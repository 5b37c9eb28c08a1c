variable "name" {
  description = "Name of the cluster."
  type        = string
}

variable "project_id" {
  description = "The Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region (a regional cluster)."
  type        = string
}

variable "network_id" {
  description = "The VPC network."
  type        = string
}

variable "subnetwork_id" {
  description = "The subnetwork."
  type        = string
}

variable "pods_range_name" {
  description = "Secondary range for pods."
  type        = string
}

variable "services_range_name" {
  description = "Secondary range for services."
  type        = string
}

variable "master_cidr" {
  description = "A /28 for the control plane."
  type        = string
  default     = "172.16.0.0/28"
}

variable "release_channel" {
  description = "GKE release channel."
  type        = string
  default     = "REGULAR"
}

variable "machine_type" {
  description = "Node machine type."
  type        = string
  default     = "e2-standard-4"
}

variable "node_min" {
  description = "Fewest nodes per zone."
  type        = number
  default     = 1
}

variable "node_max" {
  description = "Most nodes per zone."
  type        = number
  default     = 3
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels set on the cluster and its nodes."
  type        = map(string)
  default     = {}
}
