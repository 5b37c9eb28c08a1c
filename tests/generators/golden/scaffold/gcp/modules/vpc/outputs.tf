output "network_id" {
  description = "The VPC network."
  value       = google_compute_network.this.id
}

output "subnetwork_id" {
  description = "The subnetwork."
  value       = google_compute_subnetwork.this.id
}

output "pods_range_name" {
  description = "Secondary range for pods."
  value       = google_compute_subnetwork.this.secondary_ip_range[0].range_name
}

output "services_range_name" {
  description = "Secondary range for services."
  value       = google_compute_subnetwork.this.secondary_ip_range[1].range_name
}

output "private_services_connection" {
  description = "Private services access (Cloud SQL private IP)."
  value       = google_service_networking_connection.private_services.id
}
