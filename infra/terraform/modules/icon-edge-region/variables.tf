variable "region" {
  description = "Region name as Cloudflare's pools and the dashboards know it (us, eu, asia); also the edge's `region` setting."
  type        = string
}

variable "mode" {
  description = "\"vm\": this module runs icon-edge instances in an autoscaling group; \"k8s\": only the NLB and an IP target group, which the icon-edge Helm chart's pods join (AWS Load Balancer Controller TargetGroupBinding)."
  type        = string
  default     = "vm"
  validation {
    condition     = contains(["vm", "k8s"], var.mode)
    error_message = "mode must be vm or k8s."
  }
}

variable "vpc_id" {
  description = "VPC to run in."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets for the internet-facing NLB."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets for the edge instances (mode = \"vm\")."
  type        = list(string)
  default     = []
}

variable "zone_id" {
  description = "Route53 hosted zone that holds the origin names, e.g. the zone of edge.example.org."
  type        = string
}

variable "zone_name" {
  description = "Name of that zone; the region's origin becomes {region}.{zone_name}."
  type        = string
}

variable "upstreams" {
  description = "icon-edge upstreams, e.g. icon-node-asg's upstream output (dns+http://...:9000)."
  type        = list(string)
  default     = []
}

variable "ami_id" {
  description = "AMI baked by infra/packer (mode = \"vm\")."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "EC2 type of the edge instances; the edge is CPU-bound on system calls, c7i.large serves ~15k req/s."
  type        = string
  default     = "c7i.large"
}

variable "min_size" {
  description = "Fewest edge instances (mode = \"vm\")."
  type        = number
  default     = 2
}

variable "max_size" {
  description = "Most edge instances (mode = \"vm\")."
  type        = number
  default     = 6
}

variable "cloudflare_ranges" {
  description = "Source ranges allowed to reach the NLB: Cloudflare's published ranges (https://www.cloudflare.com/ips/), the same list as ratelimit.CloudflareIPRanges."
  type        = list(string)
  default = [
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
    "141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
    "197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
    "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
    "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
  ]
}

variable "metrics_cidrs" {
  description = "CIDRs of the Prometheus that scrapes the edges' admin port (9090: /metrics, /status.json)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every object this module creates."
  type        = map(string)
  default     = {}
}
