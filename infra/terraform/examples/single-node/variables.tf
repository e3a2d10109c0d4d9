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
