variable "account_id" {
  description = "Cloudflare account id (32 hex digits): monitors and pools are account-level objects."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.account_id))
    error_message = "account_id must be the 32-hex-digit account id (as icon-edge cloudflare apply requires)."
  }
}

variable "zone_id" {
  description = "Cloudflare zone id (32 hex digits) of the zone that holds hostname."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.zone_id))
    error_message = "zone_id must be the 32-hex-digit zone id (as icon-edge cloudflare apply requires)."
  }
}

variable "hostname" {
  description = "Public hostname of the geo load balancer, e.g. rpc.example.org. Every object name is derived from it."
  type        = string
}

variable "monitor" {
  description = "Health monitor settings; Cloudflare probes each region's origin at this path (icon-edge's /readyz) over HTTPS on port 443."
  type = object({
    path             = optional(string, "/readyz")
    interval         = optional(number, 60)
    timeout          = optional(number, 5)
    retries          = optional(number, 1)
    consecutive_up   = optional(number, 3)
    consecutive_down = optional(number, 2)
  })
  default = {}
}

variable "fallback" {
  description = "Region whose pool takes traffic when every pool is unhealthy."
  type        = string
}

variable "pools" {
  description = "One pool per region, in failover order for default_pools: region name, origin hostname (the region's NLB alias, e.g. eu.rpc.example.org), the data center's coordinates, and the Cloudflare region codes steered to it."
  type = list(object({
    region    = string
    origin    = string
    latitude  = number
    longitude = number
    steer     = list(string)
  }))

  validation {
    condition     = length(var.pools) > 0 && length(distinct([for p in var.pools : p.region])) == length(var.pools)
    error_message = "pools must name at least one region, each region once."
  }
  validation {
    condition     = alltrue([for p in var.pools : abs(p.latitude) <= 90 && abs(p.longitude) <= 180])
    error_message = "latitude must be within [-90, 90] and longitude within [-180, 180]."
  }
  validation {
    condition = alltrue(flatten([for p in var.pools : [for c in p.steer : contains(
      ["WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS"], c
    )]]))
    error_message = "steer codes must be Cloudflare region codes (WNAM, ENAM, WEU, EEU, NSAM, SSAM, OC, ME, NAF, SAF, SAS, SEAS, NEAS)."
  }
  validation {
    condition     = length(flatten([for p in var.pools : p.steer])) == length(distinct(flatten([for p in var.pools : p.steer])))
    error_message = "a Cloudflare region code may be steered to one pool only."
  }
}
