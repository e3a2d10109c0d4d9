# Topology 3: three regions (us, eu, asia), each a node group + edges, and
# Cloudflare's geo load balancer in front (the same objects as
# `icon-edge cloudflare apply` would make; pick one owner).
#   packer build once per AWS region (or copy the AMI), then
#   terraform init
#   terraform apply -var-file=regions.tfvars     # see regions.tfvars.example
provider "cloudflare" {}

provider "aws" {
  alias  = "us"
  region = var.regions["us"].aws_region
}

module "snapshots_us" {
  source    = "../../modules/icon-snapshot-bucket"
  providers = { aws = aws.us }
  name      = "${var.bucket_prefix}-us"
}

module "nodes_us" {
  source             = "../../modules/icon-node-asg"
  providers          = { aws = aws.us }
  name               = "icon-nodes-us"
  vpc_id             = var.regions["us"].vpc_id
  subnet_ids         = var.regions["us"].private_subnet_ids
  allowed_cidrs      = [var.regions["us"].vpc_cidr]
  ami_id             = var.regions["us"].ami_id
  instance_role_name = module.snapshots_us.reader_role_name
  instance_profile   = module.snapshots_us.reader_instance_profile
  snapshot_store     = module.snapshots_us.store_url
  reference_urls     = var.reference_urls
}

module "edge_us" {
  source             = "../../modules/icon-edge-region"
  providers          = { aws = aws.us }
  region             = "us"
  vpc_id             = var.regions["us"].vpc_id
  public_subnet_ids  = var.regions["us"].public_subnet_ids
  private_subnet_ids = var.regions["us"].private_subnet_ids
  zone_id            = var.route53_zone_id
  zone_name          = var.route53_zone_name
  ami_id             = var.regions["us"].ami_id
  upstreams          = [module.nodes_us.upstream]
  metrics_cidrs      = [var.regions["us"].vpc_cidr]
}

provider "aws" {
  alias  = "eu"
  region = var.regions["eu"].aws_region
}

module "snapshots_eu" {
  source    = "../../modules/icon-snapshot-bucket"
  providers = { aws = aws.eu }
  name      = "${var.bucket_prefix}-eu"
}

module "nodes_eu" {
  source             = "../../modules/icon-node-asg"
  providers          = { aws = aws.eu }
  name               = "icon-nodes-eu"
  vpc_id             = var.regions["eu"].vpc_id
  subnet_ids         = var.regions["eu"].private_subnet_ids
  allowed_cidrs      = [var.regions["eu"].vpc_cidr]
  ami_id             = var.regions["eu"].ami_id
  instance_role_name = module.snapshots_eu.reader_role_name
  instance_profile   = module.snapshots_eu.reader_instance_profile
  snapshot_store     = module.snapshots_eu.store_url
  reference_urls     = var.reference_urls
}

module "edge_eu" {
  source             = "../../modules/icon-edge-region"
  providers          = { aws = aws.eu }
  region             = "eu"
  vpc_id             = var.regions["eu"].vpc_id
  public_subnet_ids  = var.regions["eu"].public_subnet_ids
  private_subnet_ids = var.regions["eu"].private_subnet_ids
  zone_id            = var.route53_zone_id
  zone_name          = var.route53_zone_name
  ami_id             = var.regions["eu"].ami_id
  upstreams          = [module.nodes_eu.upstream]
  metrics_cidrs      = [var.regions["eu"].vpc_cidr]
}

provider "aws" {
  alias  = "asia"
  region = var.regions["asia"].aws_region
}

module "snapshots_asia" {
  source    = "../../modules/icon-snapshot-bucket"
  providers = { aws = aws.asia }
  name      = "${var.bucket_prefix}-asia"
}

module "nodes_asia" {
  source             = "../../modules/icon-node-asg"
  providers          = { aws = aws.asia }
  name               = "icon-nodes-asia"
  vpc_id             = var.regions["asia"].vpc_id
  subnet_ids         = var.regions["asia"].private_subnet_ids
  allowed_cidrs      = [var.regions["asia"].vpc_cidr]
  ami_id             = var.regions["asia"].ami_id
  instance_role_name = module.snapshots_asia.reader_role_name
  instance_profile   = module.snapshots_asia.reader_instance_profile
  snapshot_store     = module.snapshots_asia.store_url
  reference_urls     = var.reference_urls
}

module "edge_asia" {
  source             = "../../modules/icon-edge-region"
  providers          = { aws = aws.asia }
  region             = "asia"
  vpc_id             = var.regions["asia"].vpc_id
  public_subnet_ids  = var.regions["asia"].public_subnet_ids
  private_subnet_ids = var.regions["asia"].private_subnet_ids
  zone_id            = var.route53_zone_id
  zone_name          = var.route53_zone_name
  ami_id             = var.regions["asia"].ami_id
  upstreams          = [module.nodes_asia.upstream]
  metrics_cidrs      = [var.regions["asia"].vpc_cidr]
}

module "cloudflare" {
  source     = "../../modules/cloudflare-lb"
  account_id = var.cloudflare_account_id
  zone_id    = var.cloudflare_zone_id
  hostname   = var.hostname
  fallback   = "eu"
  pools = [
    { region = "us", origin = module.edge_us.origin, latitude = var.regions["us"].latitude, longitude = var.regions["us"].longitude, steer = ["WNAM", "ENAM"] },
    { region = "eu", origin = module.edge_eu.origin, latitude = var.regions["eu"].latitude, longitude = var.regions["eu"].longitude, steer = ["WEU", "EEU", "ME", "NAF"] },
    { region = "asia", origin = module.edge_asia.origin, latitude = var.regions["asia"].latitude, longitude = var.regions["asia"].longitude, steer = ["SEAS", "NEAS", "OC", "SAS"] },
  ]
}
