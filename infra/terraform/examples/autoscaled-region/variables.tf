variable "aws_region" {
  description = "AWS region to run in."
  type        = string
  default     = "eu-central-1"
}

variable "region" {
  description = "Region name of this deployment (us, eu, asia)."
  type        = string
  default     = "eu"
}

variable "ami_id" {
  description = "AMI from infra/packer."
  type        = string
}

variable "vpc_id" {
  description = "VPC to run in."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (edges reach the nodes from it)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets for the edge NLB."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets for nodes and edges."
  type        = list(string)
}

variable "zone_id" {
  description = "Route53 zone of the origin names."
  type        = string
}

variable "zone_name" {
  description = "Name of that zone, e.g. edge.example.org."
  type        = string
}

variable "snapshot_bucket" {
  description = "Name of the snapshot bucket to create."
  type        = string
}

variable "reference_urls" {
  description = "Endpoints the node agent compares heights with."
  type        = list(string)
  default     = ["https://ctz.solidwallet.io/api/v3"]
}
