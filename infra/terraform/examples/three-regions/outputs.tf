output "endpoint" {
  description = "Public JSON-RPC endpoint."
  value       = "https://${var.hostname}/api/v3"
}

output "origins" {
  description = "Origin hostname per region."
  value       = { us = module.edge_us.origin, eu = module.edge_eu.origin, asia = module.edge_asia.origin }
}
