# Topology 2: one region: an autoscaled node group (Packer AMI) behind an
# internal NLB, icon-edge instances behind a TLS NLB, snapshots in S3.
#   (cd ../../../packer && packer build -var region=eu-central-1 icon-node.json)   # prints the AMI id
#   terraform init
#   terraform apply -var ami_id=ami-... -var vpc_id=... -var 'public_subnet_ids=[...]' \
#     -var 'private_subnet_ids=[...]' -var vpc_cidr=10.0.0.0/16 -var zone_id=Z... \
#     -var zone_name=edge.example.org -var snapshot_bucket=icon-snapshots-eu-example
provider "aws" {
  region = var.aws_region
}

module "snapshots" {
  source = "../../modules/icon-snapshot-bucket"
  name   = var.snapshot_bucket
}

module "nodes" {
  source             = "../../modules/icon-node-asg"
  name               = "icon-nodes-${var.region}"
  vpc_id             = var.vpc_id
  subnet_ids         = var.private_subnet_ids
  allowed_cidrs      = [var.vpc_cidr]
  ami_id             = var.ami_id
  instance_role_name = module.snapshots.reader_role_name
  instance_profile   = module.snapshots.reader_instance_profile
  snapshot_store     = module.snapshots.store_url
  reference_urls     = var.reference_urls
}

module "edge" {
  source             = "../../modules/icon-edge-region"
  region             = var.region
  vpc_id             = var.vpc_id
  public_subnet_ids  = var.public_subnet_ids
  private_subnet_ids = var.private_subnet_ids
  zone_id            = var.zone_id
  zone_name          = var.zone_name
  ami_id             = var.ami_id
  upstreams          = [module.nodes.upstream]
  metrics_cidrs      = [var.vpc_cidr]
}
