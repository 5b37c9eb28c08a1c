output "connection_name" {
  description = "The database module's connection_name."
  value       = module.database.connection_name
}

output "private_ip" {
  description = "The database module's private_ip."
  value       = module.database.private_ip
}
