output "fqdn" {
  description = "Host name to connect to."
  value       = azurerm_postgresql_flexible_server.this.fqdn
}
