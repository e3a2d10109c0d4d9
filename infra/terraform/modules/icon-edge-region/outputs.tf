output "origin" {
  description = "The region's origin hostname ({region}.{zone_name}): cloudflare-lb's pools[].origin."
  value       = local.origin
}

output "nlb_dns_name" {
  description = "DNS name of the region's NLB."
  value       = aws_lb.edge.dns_name
}

output "target_group_arn" {
  description = "Target group of the edges; in mode = \"k8s\" bind the Helm chart's Service to it."
  value       = aws_lb_target_group.edge.arn
}

output "edge_security_group_id" {
  description = "Security group the edges (instances or pods) must carry."
  value       = aws_security_group.edge.id
}
