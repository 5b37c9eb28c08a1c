output "cluster_name" {
  description = "The cluster module's cluster_name."
  value       = module.cluster.cluster_name
}

output "oidc_issuer_url" {
  description = "The cluster module's oidc_issuer_url."
  value       = module.cluster.oidc_issuer_url
}
