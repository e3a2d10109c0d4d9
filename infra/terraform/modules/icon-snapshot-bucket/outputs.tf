output "bucket" {
  description = "Bucket name."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.this.arn
}

output "store_url" {
  description = "What the node agent takes as --store: s3://BUCKET/PREFIX."
  value       = "s3://${aws_s3_bucket.this.id}/${var.prefix}"
}

output "read_policy_json" {
  description = "IAM policy document granting read access to the snapshots, for roles made elsewhere."
  value       = local.read_policy
}

output "reader_role_name" {
  description = "IAM role for nodes that restore (read only)."
  value       = aws_iam_role.reader.name
}

output "reader_instance_profile" {
  description = "Instance profile of the reader role."
  value       = aws_iam_instance_profile.reader.name
}

output "writer_role_name" {
  description = "IAM role for the source node that writes snapshots."
  value       = aws_iam_role.writer.name
}

output "writer_instance_profile" {
  description = "Instance profile of the writer role."
  value       = aws_iam_instance_profile.writer.name
}
