# Object names and the geo steering table. This file is the contract with
# `icon-edge cloudflare apply` (routing/cloudflare): both owners must derive
# exactly these names, so an operator can switch owners without Cloudflare
# seeing new objects. It uses no resource attributes, so tests can evaluate
# it on its own (infra/test: cloudflare_names_test.go).
locals {
  slug                = "icon_edge_${replace(var.hostname, "/[^A-Za-z0-9]/", "_")}"
  monitor_description = local.slug
  lb_description      = "icon-edge geo load balancer (managed)"

  pool_names        = { for p in var.pools : p.region => "${local.slug}_${p.region}" }
  pool_descriptions = { for p in var.pools : p.region => "icon-edge region ${p.region} for ${var.hostname}" }

  # Great-circle ordering needs sin and cos, which Terraform lacks: Taylor
  # series to degree 17 are exact to ~1e-12 for the |x| <= pi/2 used here
  # (latitudes, and half of a longitude difference folded into [-180, 180]).
  # Only the order matters, and the haversine term h is monotonic in the
  # distance, so no asin/sqrt is needed.
  rad  = 0.017453292519943295
  fact = [1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600, 6227020800, 87178291200, 1307674368000, 20922789888000, 355687428096000]

  cos_lat = [for p in var.pools : sum([for k in range(9) : pow(-1, k) * pow(p.latitude * local.rad, 2 * k) / local.fact[2 * k]])]

  sin_half_dlat = [for p in var.pools : [for q in var.pools :
    sum([for k in range(9) : pow(-1, k) * pow((q.latitude - p.latitude) * local.rad / 2, 2 * k + 1) / local.fact[2 * k + 1]])
  ]]
  half_dlon = [for p in var.pools : [for q in var.pools : (
    q.longitude - p.longitude > 180 ? q.longitude - p.longitude - 360 :
    q.longitude - p.longitude < -180 ? q.longitude - p.longitude + 360 :
    q.longitude - p.longitude
  ) * local.rad / 2]]
  sin_half_dlon = [for row in local.half_dlon : [for x in row :
    sum([for k in range(9) : pow(-1, k) * pow(x, 2 * k + 1) / local.fact[2 * k + 1]])
  ]]
  haversine = [for i, p in var.pools : [for j, q in var.pools :
    pow(local.sin_half_dlat[i][j], 2) + local.cos_lat[i] * local.cos_lat[j] * pow(local.sin_half_dlon[i][j], 2)
  ]]

  # For each pool: itself, then every other pool nearest first (ties keep
  # config order). The key sorts as text: h is in [0, 1], printed fixed-width.
  failover_order = { for i, p in var.pools : p.region => concat([p.region], [
    for key in sort([for j, q in var.pools : format("%.15f/%04d", local.haversine[i][j], j) if j != i]) :
    var.pools[tonumber(split("/", key)[1])].region
  ]) }

  # Cloudflare region code -> regions in failover order. Codes no pool
  # steers fall back to default_pools (every pool, config order).
  region_pools = merge([for p in var.pools : { for c in p.steer : c => local.failover_order[p.region] }]...)

  region_pool_names = { for c, regions in local.region_pools : c => [for r in regions : local.pool_names[r]] }
}
