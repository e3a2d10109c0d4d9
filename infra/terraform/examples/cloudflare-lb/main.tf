# The geo load balancer alone, in front of three icon-edge regions that
# already exist (e.g. made by examples/three-regions or by hand).
#   terraform init && terraform apply -var account_id=... -var zone_id=...
# Credentials: CLOUDFLARE_API_TOKEN in the environment (Load Balancing:
# Monitors and Pools edit on the account, Load Balancers edit on the zone).
provider "cloudflare" {}

module "lb" {
  source = "../../modules/cloudflare-lb"

  account_id = var.account_id
  zone_id    = var.zone_id
  hostname   = "rpc.example.org"
  fallback   = "eu"
  pools = [
    { region = "us", origin = "us.edge.example.org", latitude = 39.04, longitude = -77.49, steer = ["WNAM", "ENAM"] },
    { region = "eu", origin = "eu.edge.example.org", latitude = 50.11, longitude = 8.68, steer = ["WEU", "EEU", "ME", "NAF"] },
    { region = "asia", origin = "asia.edge.example.org", latitude = 1.35, longitude = 103.82, steer = ["SEAS", "NEAS", "OC", "SAS"] },
  ]
}
