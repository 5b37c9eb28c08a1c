output "cluster_name" {
  description = "The cluster module's cluster_name."
  value       = module.cluster.cluster_name
}

output "endpoint" {
  description = "The cluster module's endpoint."
  value       = module.cluster.endpoint
}

output "ca_certificate" {
  description = "The cluster module's ca_certificate."
  value       = module.cluster.ca_certificate
}
