# Topology 1: one citizen node with icon-edge in front, HTTPS by certbot.
#   terraform init
#   terraform apply -var vpc_id=vpc-... -var subnet_id=subnet-... \
#     -var zone_id=Z... -var hostname=node.example.org -var acme_email=ops@example.org
provider "aws" {
  region = var.aws_region
}

module "snapshots" {
  source = "../../modules/icon-snapshot-bucket"
  count  = var.snapshot_bucket == "" ? 0 : 1
  name   = var.snapshot_bucket
}

module "node" {
  source           = "../../modules/icon-node-single"
  vpc_id           = var.vpc_id
  subnet_id        = var.subnet_id
  zone_id          = var.zone_id
  hostname         = var.hostname
  acme_email       = var.acme_email
  storage          = "gp3"
  instance_type    = "m7i.xlarge"
  instance_profile = var.snapshot_bucket == "" ? null : module.snapshots[0].reader_instance_profile
  snapshot_store   = var.snapshot_bucket == "" ? "" : module.snapshots[0].store_url
}
