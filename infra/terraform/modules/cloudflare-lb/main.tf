# Account-level monitor: Cloudflare probes every origin's /readyz over HTTPS.
# The Host header is set per origin (origins[].header.host), so the monitor
# itself carries none.
resource "cloudflare_load_balancer_monitor" "this" {
  account_id       = var.account_id
  description      = local.monitor_description
  type             = "https"
  method           = "GET"
  path             = var.monitor.path
  expected_codes   = "200"
  interval         = var.monitor.interval
  timeout          = var.monitor.timeout
  retries          = var.monitor.retries
  consecutive_up   = var.monitor.consecutive_up
  consecutive_down = var.monitor.consecutive_down
  port             = 443
  allow_insecure   = false
  follow_redirects = false
}

resource "cloudflare_load_balancer_pool" "region" {
  for_each = { for p in var.pools : p.region => p }

  account_id      = var.account_id
  name            = local.pool_names[each.key]
  description     = local.pool_descriptions[each.key]
  enabled         = true
  minimum_origins = 1
  monitor         = cloudflare_load_balancer_monitor.this.id
  latitude        = each.value.latitude
  longitude       = each.value.longitude

  origins = [{
    name    = each.key
    address = each.value.origin
    enabled = true
    weight  = 1
    header  = { host = [each.value.origin] }
  }]

  # `icon-edge cloudflare drain|undrain` flips origins[].enabled; a later
  # plan would otherwise undo a drain in progress.
  lifecycle {
    ignore_changes = [origins[0].enabled]
  }
}

resource "cloudflare_load_balancer" "this" {
  zone_id          = var.zone_id
  name             = var.hostname
  description      = local.lb_description
  proxied          = true
  steering_policy  = "geo"
  session_affinity = "none"
  default_pools    = [for p in var.pools : cloudflare_load_balancer_pool.region[p.region].id]
  fallback_pool    = cloudflare_load_balancer_pool.region[var.fallback].id
  region_pools = {
    for code, regions in local.region_pools : code => [for r in regions : cloudflare_load_balancer_pool.region[r].id]
  }

  lifecycle {
    precondition {
      condition     = contains([for p in var.pools : p.region], var.fallback)
      error_message = "fallback must be the region of one of the pools."
    }
  }
}
