output "fqdn" {
  description = "The database module's fqdn."
  value       = module.database.fqdn
}
