output "connection_name" {
  description = "For the Cloud SQL Auth Proxy."
  value       = google_sql_database_instance.this.connection_name
}

output "private_ip" {
  description = "Private address."
  value       = google_sql_database_instance.this.private_ip_address
}
