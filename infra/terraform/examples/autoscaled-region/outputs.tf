output "origin" {
  description = "Origin hostname of the region (HTTPS, reachable from Cloudflare only)."
  value       = module.edge.origin
}
