output "api_url" {
  description = "Base URL of the API and dashboard: export SANAFARM_ADDR=<this>."
  value       = module.sanafarm.api_url
}

output "coordinator_public_ips" {
  description = "Public IPv4 addresses of the coordinators (SSH)."
  value       = module.sanafarm.coordinator_public_ips
}

output "worker_public_ips" {
  description = "Public IPv4 addresses of the workers (SSH), by droplet name."
  value       = module.sanafarm.worker_public_ips
}

output "bucket" {
  description = "Bucket of outputs and the model mirror."
  value       = module.sanafarm.bucket
}
