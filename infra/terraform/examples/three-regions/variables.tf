variable "regions" {
  description = "Per region (keys us, eu, asia): AWS region, AMI, network and the data center's coordinates."
  type = map(object({
    aws_region         = string
    ami_id             = string
    vpc_id             = string
    vpc_cidr           = string
    public_subnet_ids  = list(string)
    private_subnet_ids = list(string)
    latitude           = number
    longitude          = number
  }))
  validation {
    condition     = sort(keys(var.regions)) == sort(["us", "eu", "asia"])
    error_message = "regions must have exactly the keys us, eu and asia."
  }
}

variable "route53_zone_id" {
  description = "Route53 zone (one, global) of the origin names."
  type        = string
}

variable "route53_zone_name" {
  description = "Name of that zone, e.g. edge.example.org (delegated from the Cloudflare zone)."
  type        = string
}

variable "bucket_prefix" {
  description = "Snapshot buckets are named {bucket_prefix}-{region}."
  type        = string
}

variable "cloudflare_account_id" {
  description = "Cloudflare account id."
  type        = string
}

variable "cloudflare_zone_id" {
  description = "Cloudflare zone id of the public hostname's zone."
  type        = string
}

variable "hostname" {
  description = "Public hostname clients use, e.g. rpc.example.org."
  type        = string
}

variable "reference_urls" {
  description = "Endpoints the node agents compare heights with."
  type        = list(string)
  default     = ["https://ctz.solidwallet.io/api/v3"]
}
