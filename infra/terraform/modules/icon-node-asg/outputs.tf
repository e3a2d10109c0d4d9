output "autoscaling_group_name" {
  description = "Name of the node autoscaling group."
  value       = aws_autoscaling_group.nodes.name
}

output "nlb_dns_name" {
  description = "Internal NLB name in front of the in-sync nodes."
  value       = aws_lb.nodes.dns_name
}

output "upstream" {
  description = "What icon-edge takes as an upstream: every address of the NLB is re-resolved and treated as a node."
  value       = "dns+http://${aws_lb.nodes.dns_name}:9000"
}

output "target_group_arn" {
  description = "Target group of the nodes (health: node agent /health on 9100)."
  value       = aws_lb_target_group.rpc.arn
}

output "security_group_id" {
  description = "Security group of the nodes."
  value       = aws_security_group.node.id
}
