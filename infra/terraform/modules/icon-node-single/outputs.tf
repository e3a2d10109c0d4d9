output "instance_id" {
  description = "EC2 instance id."
  value       = aws_instance.node.id
}

output "public_ip" {
  description = "Elastic IP of the node."
  value       = aws_eip.node.public_ip
}

output "endpoint" {
  description = "JSON-RPC endpoint (HTTPS once certbot has its certificate)."
  value       = "https://${var.hostname}/api/v3"
}

output "security_group_id" {
  description = "Security group of the node."
  value       = aws_security_group.node.id
}
