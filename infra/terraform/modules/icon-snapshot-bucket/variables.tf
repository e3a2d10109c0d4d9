variable "name" {
  description = "Bucket name (globally unique), e.g. icon-snapshots-eu-example."
  type        = string
}

variable "prefix" {
  description = "Key prefix the node agent writes snapshots under (no leading slash)."
  type        = string
  default     = "mainnet"
}

variable "expire_after_days" {
  description = "Safety net: objects older than this are deleted by S3 even if `icon-node-agent gc` never ran. Keep it well above the snapshot interval times gc --keep."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption; null means SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a bucket that still holds snapshots."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every object this module creates."
  type        = map(string)
  default     = {}
}
