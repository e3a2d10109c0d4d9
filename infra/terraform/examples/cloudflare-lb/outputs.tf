output "names" {
  description = "Derived object names and the steering table."
  value       = module.lb.names
}

output "load_balancer_id" {
  description = "Id of the geo load balancer."
  value       = module.lb.load_balancer_id
}
