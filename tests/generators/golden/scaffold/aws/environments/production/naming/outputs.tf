output "prefix" {
  description = "Name prefix of this environment."
  value       = module.naming.prefix
}

output "tags" {
  description = "Standard tags."
  value       = module.naming.tags
}
