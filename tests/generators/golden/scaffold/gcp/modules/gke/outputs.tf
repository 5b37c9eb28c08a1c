output "cluster_name" {
  description = "The cluster."
  value       = google_container_cluster.this.name
}

output "endpoint" {
  description = "The API server."
  value       = google_container_cluster.this.endpoint
}

output "ca_certificate" {
  description = "The cluster CA (base64)."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
}
