output "resource_group_name" {
  description = "The network module's resource_group_name."
  value       = module.network.resource_group_name
}

output "location" {
  description = "The network module's location."
  value       = module.network.location
}

output "vnet_id" {
  description = "The network module's vnet_id."
  value       = module.network.vnet_id
}

output "cluster_subnet_id" {
  description = "The network module's cluster_subnet_id."
  value       = module.network.cluster_subnet_id
}

output "database_subnet_id" {
  description = "The network module's database_subnet_id."
  value       = module.network.database_subnet_id
}
