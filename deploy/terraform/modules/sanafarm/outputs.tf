# Outputs carry addresses only: no token, password, key or user_data.

output "api_url" {
  description = "Base URL of the HTTP API and dashboard (SANAFARM_ADDR)."
  value       = var.api_load_balancer ? "https://${local.api_fqdn}" : "https://${local.api_fqdn}:${local.ports.api}"
}

output "coordinator_names" {
  description = "Private DNS names of the coordinators (Raft, etcd and NATS peers)."
  value       = local.coordinator_fqdns
}

output "coordinator_public_ips" {
  description = "Public IPv4 addresses of the coordinators (SSH)."
  value       = digitalocean_droplet.coordinator[*].ipv4_address
}

output "coordinator_private_ips" {
  description = "VPC addresses of the coordinators."
  value       = digitalocean_droplet.coordinator[*].ipv4_address_private
}

output "worker_public_ips" {
  description = "Public IPv4 addresses of the workers (SSH), by droplet name."
  value       = zipmap(digitalocean_droplet.worker[*].name, digitalocean_droplet.worker[*].ipv4_address)
}

output "worker_private_ips" {
  description = "VPC addresses of the workers, by droplet name."
  value       = zipmap(digitalocean_droplet.worker[*].name, digitalocean_droplet.worker[*].ipv4_address_private)
}

output "etcd_endpoints" {
  description = "etcd client endpoints (TLS, VPC only)."
  value       = local.etcd_endpoints
}

output "nats_urls" {
  description = "NATS client URLs (TLS, VPC only), without credentials."
  value       = local.nats_urls
}

output "bucket" {
  description = "Bucket of outputs and the model mirror, and its S3 endpoint."
  value = {
    name     = var.bucket_name
    endpoint = local.s3_endpoint
    region   = var.spaces_region
  }
}

output "vpc_id" {
  description = "Id of the cluster's VPC."
  value       = digitalocean_vpc.this.id
}

output "prometheus_targets" {
  description = "Prometheus file_sd_configs targets (VPC addresses): the coordinators' /metrics on the API port, the workers' on --metrics-addr (deploy/prometheus/prometheus.yml, docs/deploy.md Metrics)."
  value = [
    { labels = { job = "sanafarm-coordinator" }, targets = [for ip in digitalocean_droplet.coordinator[*].ipv4_address_private : "${ip}:${local.ports.api}"] },
    { labels = { job = "sanafarm-node" }, targets = [for ip in digitalocean_droplet.worker[*].ipv4_address_private : "${ip}:${local.ports.node_metrics}"] },
  ]
}
