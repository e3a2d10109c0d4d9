output "load_balancer_id" {
  description = "Id of the geo load balancer."
  value       = cloudflare_load_balancer.this.id
}

output "monitor_id" {
  description = "Id of the account-level monitor shared by every pool."
  value       = cloudflare_load_balancer_monitor.this.id
}

output "pool_ids" {
  description = "Pool id per region."
  value       = { for r, p in cloudflare_load_balancer_pool.region : r => p.id }
}

output "names" {
  description = "Every name and steering decision this module derives (the contract with icon-edge cloudflare apply): slug, monitor description, pool names per region, region code -> pool names in failover order."
  value = {
    slug                = local.slug
    monitor_description = local.monitor_description
    pool_names          = local.pool_names
    pool_descriptions   = local.pool_descriptions
    region_pools        = local.region_pool_names
    default_pools       = [for p in var.pools : local.pool_names[p.region]]
    fallback_pool       = local.pool_names[var.fallback]
    load_balancer       = var.hostname
  }
}
