output "vpc_id" {
  description = "The network module's vpc_id."
  value       = module.network.vpc_id
}

output "cidr" {
  description = "The network module's cidr."
  value       = module.network.cidr
}

output "private_subnet_ids" {
  description = "The network module's private_subnet_ids."
  value       = module.network.private_subnet_ids
}

output "public_subnet_ids" {
  description = "The network module's public_subnet_ids."
  value       = module.network.public_subnet_ids
}
