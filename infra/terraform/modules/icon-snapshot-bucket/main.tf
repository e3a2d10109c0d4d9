resource "aws_s3_bucket" "this" {
  bucket        = var.name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

# Snapshots are immutable and pruned by `icon-node-agent gc --keep K`; S3
# only cleans up what a crashed upload or a missing gc leaves behind.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {
      prefix = ""
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  rule {
    id     = "expire-old-snapshots"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/"
    }
    expiration {
      days = var.expire_after_days
    }
  }
}

locals {
  assume_ec2 = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  objects = "${aws_s3_bucket.this.arn}/${var.prefix}/*"
  kms = var.kms_key_arn == null ? [] : [{
    Effect   = "Allow"
    Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
    Resource = var.kms_key_arn
  }]
  read_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = aws_s3_bucket.this.arn
        Condition = { StringLike = { "s3:prefix" = ["${var.prefix}/*", var.prefix] } }
      },
      { Effect = "Allow", Action = ["s3:GetObject"], Resource = local.objects },
    ], local.kms)
  })
  write_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = aws_s3_bucket.this.arn
        Condition = { StringLike = { "s3:prefix" = ["${var.prefix}/*", var.prefix] } }
      },
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = local.objects
      },
    ], local.kms)
  })
}

# Nodes that restore: read only.
resource "aws_iam_role" "reader" {
  name               = "${var.name}-reader"
  assume_role_policy = local.assume_ec2
  tags               = var.tags
}

resource "aws_iam_role_policy" "reader" {
  name   = "icon-snapshot-read"
  role   = aws_iam_role.reader.id
  policy = local.read_policy
}

resource "aws_iam_instance_profile" "reader" {
  name = "${var.name}-reader"
  role = aws_iam_role.reader.name
  tags = var.tags
}

# The source node that takes snapshots (and runs gc): read and write.
resource "aws_iam_role" "writer" {
  name               = "${var.name}-writer"
  assume_role_policy = local.assume_ec2
  tags               = var.tags
}

resource "aws_iam_role_policy" "writer" {
  name   = "icon-snapshot-write"
  role   = aws_iam_role.writer.id
  policy = local.write_policy
}

resource "aws_iam_instance_profile" "writer" {
  name = "${var.name}-writer"
  role = aws_iam_role.writer.name
  tags = var.tags
}
