output "cluster_name" {
  description = "The cluster."
  value       = azurerm_kubernetes_cluster.this.name
}

output "oidc_issuer_url" {
  description = "For workload identity federation."
  value       = azurerm_kubernetes_cluster.this.oidc_issuer_url
}

output "kube_config" {
  description = "Admin kubeconfig."
  value       = azurerm_kubernetes_cluster.this.kube_config_raw
  sensitive   = true
}
