variable "name" {
  description = "Name prefix for the autoscaling group, load balancer and security group (at most 20 characters: it prefixes AWS names that allow 32)."
  type        = string
  default     = "icon-nodes"
  validation {
    condition     = length(var.name) <= 20
    error_message = "name must be at most 20 characters."
  }
}

variable "vpc_id" {
  description = "VPC to run in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one per availability zone) for the nodes and the internal NLB."
  type        = list(string)
}

variable "allowed_cidrs" {
  description = "CIDRs allowed to reach JSON-RPC (9000) and the node agent (9100) through the NLB: the VPC, where the edges run."
  type        = list(string)
}

variable "ami_id" {
  description = "AMI baked by infra/packer (goloop, node agent, edge installed by the Ansible roles)."
  type        = string
}

variable "instance_type" {
  description = "EC2 type with local NVMe instance store (chain data lives there), e.g. i4i.xlarge."
  type        = string
  default     = "i4i.xlarge"
}

variable "min_size" {
  description = "Fewest nodes."
  type        = number
  default     = 2
}

variable "max_size" {
  description = "Most nodes."
  type        = number
  default     = 6
}

variable "cpu_target" {
  description = "Target average CPU utilisation (percent) of the target tracking policy."
  type        = number
  default     = 60
}

variable "instance_role_name" {
  description = "IAM role of the nodes (e.g. icon-snapshot-bucket's reader_role_name); this module adds the permission to complete the launch lifecycle hook."
  type        = string
}

variable "instance_profile" {
  description = "Instance profile of instance_role_name."
  type        = string
}

variable "snapshot_store" {
  description = "Snapshot store the node agent restores from (s3://BUCKET/PREFIX)."
  type        = string
}

variable "reference_urls" {
  description = "JSON-RPC endpoints the node agent compares its height with (health --reference), e.g. public ICON endpoints or another region."
  type        = list(string)
}

variable "network" {
  description = "ICON network: MainNet, LisbonNet or BerlinNet."
  type        = string
  default     = "MainNet"
}

variable "sync_timeout_hours" {
  description = "How long a new node may restore and catch up before the launch is abandoned (the lifecycle hook's global timeout is at most 48 h)."
  type        = number
  default     = 6
}

variable "tags" {
  description = "Tags for every object this module creates (propagated to instances)."
  type        = map(string)
  default     = {}
}
