output "address" {
  description = "The database module's address."
  value       = module.database.address
}

output "port" {
  description = "The database module's port."
  value       = module.database.port
}

output "master_user_secret_arn" {
  description = "The database module's master_user_secret_arn."
  value       = module.database.master_user_secret_arn
}
