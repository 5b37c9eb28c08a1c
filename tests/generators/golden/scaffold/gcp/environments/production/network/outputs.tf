output "network_id" {
  description = "The network module's network_id."
  value       = module.network.network_id
}

output "subnetwork_id" {
  description = "The network module's subnetwork_id."
  value       = module.network.subnetwork_id
}

output "pods_range_name" {
  description = "The network module's pods_range_name."
  value       = module.network.pods_range_name
}

output "services_range_name" {
  description = "The network module's services_range_name."
  value       = module.network.services_range_name
}

output "private_services_connection" {
  description = "The network module's private_services_connection."
  value       = module.network.private_services_connection
}
