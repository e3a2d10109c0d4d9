variable "name" {
  description = "Name of the node; used for the instance, security group and tags."
  type        = string
  default     = "icon-node"
}

variable "vpc_id" {
  description = "VPC to run in."
  type        = string
}

variable "subnet_id" {
  description = "Public subnet for the instance (it gets an elastic IP)."
  type        = string
}

variable "instance_type" {
  description = "EC2 type. With storage = \"nvme\" pick one with instance store (e.g. i4i.xlarge); with \"gp3\" any (e.g. m7i.xlarge)."
  type        = string
  default     = "i4i.xlarge"
}

variable "storage" {
  description = "Where chain data lives: \"nvme\" (instance store, fastest; lost on stop, restored from the snapshot bucket) or \"gp3\" (EBS, survives stop)."
  type        = string
  default     = "nvme"
  validation {
    condition     = contains(["nvme", "gp3"], var.storage)
    error_message = "storage must be nvme or gp3."
  }
}

variable "gp3_size_gb" {
  description = "Size of the gp3 data volume when storage = \"gp3\"."
  type        = number
  default     = 1000
}

variable "ami_id" {
  description = "AMI to boot; null picks the newest Debian 12 amd64 image (the Ansible role installs everything at first boot)."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair for SSH; null for none (use SSM Session Manager)."
  type        = string
  default     = null
}

variable "ssh_cidrs" {
  description = "CIDRs allowed to SSH in; empty opens nothing."
  type        = list(string)
  default     = []
}

variable "instance_profile" {
  description = "IAM instance profile, e.g. icon-snapshot-bucket's reader_instance_profile so the first boot restores from a snapshot; null for none (the node syncs from genesis)."
  type        = string
  default     = null
}

variable "snapshot_store" {
  description = "Snapshot store for the node agent (s3://BUCKET/PREFIX); empty skips restore."
  type        = string
  default     = ""
}

variable "network" {
  description = "ICON network the node joins: MainNet, LisbonNet or BerlinNet."
  type        = string
  default     = "MainNet"
}

variable "zone_id" {
  description = "Route53 hosted zone of hostname."
  type        = string
}

variable "hostname" {
  description = "Public name of the node's JSON-RPC endpoint, e.g. node.example.org; certbot gets its certificate."
  type        = string
}

variable "acme_email" {
  description = "E-mail address Let's Encrypt sends expiry notices to."
  type        = string
}

variable "repo_url" {
  description = "Git repository ansible-pull takes the roles from at first boot."
  type        = string
  default     = "https://github.com/icon-edge/icon-edge.git"
}

variable "repo_ref" {
  description = "Branch, tag or commit of repo_url to run (pin a tag in production)."
  type        = string
  default     = "main"
}

variable "tags" {
  description = "Tags for every object this module creates."
  type        = map(string)
  default     = {}
}
