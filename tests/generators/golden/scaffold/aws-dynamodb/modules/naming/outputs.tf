output "prefix" {
  description = "<project>-<environment>: the prefix of every name."
  value       = local.prefix
}

output "name" {
  description = "The component's own name."
  value       = "${local.prefix}-${var.component}"
}

output "tags" {
  description = "Standard tags: project, environment, component."
  value       = local.tags
}
