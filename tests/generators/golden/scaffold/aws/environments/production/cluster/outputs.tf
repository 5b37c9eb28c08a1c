output "cluster_name" {
  description = "The cluster module's cluster_name."
  value       = module.cluster.cluster_name
}

output "endpoint" {
  description = "The cluster module's endpoint."
  value       = module.cluster.endpoint
}

output "certificate_authority" {
  description = "The cluster module's certificate_authority."
  value       = module.cluster.certificate_authority
}
