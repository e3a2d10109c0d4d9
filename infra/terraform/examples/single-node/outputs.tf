output "endpoint" {
  description = "JSON-RPC endpoint."
  value       = module.node.endpoint
}
