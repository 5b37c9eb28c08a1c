output "resource_group_name" {
  description = "The resource group."
  value       = azurerm_resource_group.this.name
}

output "location" {
  description = "The region."
  value       = azurerm_resource_group.this.location
}

output "vnet_id" {
  description = "The virtual network."
  value       = azurerm_virtual_network.this.id
}

output "cluster_subnet_id" {
  description = "Subnet for AKS nodes."
  value       = azurerm_subnet.cluster.id
}

output "database_subnet_id" {
  description = "Subnet delegated to PostgreSQL flexible servers."
  value       = azurerm_subnet.database.id
}
