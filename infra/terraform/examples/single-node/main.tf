# Topology 1: one citizen node with icon-edge in front, HTTPS by certbot.
#   terraform init
#   terraform apply -var vpc_id=vpc-... -var subnet_id=subnet-... \
#     -var zone_id=Z... -var hostname=node.example.org -var acme_email=ops@example.org
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

variable "aws_region" {
  description = "AWS region to run in."
  type        = string
  default     = "eu-central-1"
}

variable "vpc_id" {
  description = "VPC of the node."
  type        = string
}

variable "subnet_id" {
  description = "Public subnet of the node."
  type        = string
}

variable "zone_id" {
  description = "Route53 hosted zone of hostname."
  type        = string
}

variable "hostname" {
  description = "Public name of the node, e.g. node.example.org."
  type        = string
}

variable "acme_email" {
  description = "E-mail for Let's Encrypt."
  type        = string
}

variable "snapshot_bucket" {
  description = "Name of a new snapshot bucket to restore from; empty: no bucket, the node syncs from genesis."
  type        = string
  default     = ""
}

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

output "endpoint" {
  description = "JSON-RPC endpoint."
  value       = module.node.endpoint
}
