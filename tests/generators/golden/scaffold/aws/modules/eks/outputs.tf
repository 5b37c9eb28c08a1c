output "cluster_name" {
  description = "The cluster."
  value       = aws_eks_cluster.this.name
}

output "endpoint" {
  description = "The API server."
  value       = aws_eks_cluster.this.endpoint
}

output "certificate_authority" {
  description = "The cluster CA (base64)."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_security_group_id" {
  description = "Security group of the control plane and nodes."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}
