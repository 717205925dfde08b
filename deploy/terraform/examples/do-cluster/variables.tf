variable "do_token" {
  description = "DigitalOcean API token (TF_VAR_do_token)."
  type        = string
  sensitive   = true
}

variable "spaces_access_id" {
  description = "Spaces access key: creates the bucket and is what the farm writes with (TF_VAR_spaces_access_id)."
  type        = string
  sensitive   = true
}

variable "spaces_secret_key" {
  description = "Spaces secret key (TF_VAR_spaces_secret_key)."
  type        = string
  sensitive   = true
}

variable "cluster_name" {
  description = "Name of the cluster (droplet and DNS prefix)."
  type        = string
  default     = "sanafarm"
}

variable "region" {
  description = "Region with H100 droplets."
  type        = string
  default     = "nyc2"
}

variable "dns_zone" {
  description = "Domain managed by DigitalOcean DNS."
  type        = string
}

variable "coordinator_count" {
  description = "Coordinators: 3 or 5."
  type        = number
  default     = 3
}

variable "worker_count" {
  description = "GPU workers."
  type        = number
  default     = 2
}

variable "worker_size" {
  description = "GPU droplet size."
  type        = string
  default     = "gpu-h100x1-80gb"
}

variable "worker_image" {
  description = "GPU-ready base image matching worker_size."
  type        = string
  default     = "gpu-h100x1-base"
}

variable "worker_devices" {
  description = "CUDA devices per worker (\"0\" for one H100, \"0,1,2,3,4,5,6,7\" for eight)."
  type        = string
  default     = "0"
}

variable "ssh_key_ids" {
  description = "DigitalOcean SSH key ids or fingerprints."
  type        = list(string)
  default     = []
}

variable "ssh_allowed_cidrs" {
  description = "CIDRs allowed to SSH to the droplets."
  type        = list(string)
  default     = []
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the API and dashboard."
  type        = list(string)
}

variable "api_token" {
  description = "API bearer token (TF_VAR_api_token; at least 32 characters)."
  type        = string
  sensitive   = true
}

variable "read_token" {
  description = "A read-only API token for people who should look but not act (TF_VAR_read_token; empty: none; else at least 32 characters, not the api_token)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "metrics_token" {
  description = "Bearer token of every /metrics (TF_VAR_metrics_token; empty: public inside the VPC; else at least 32 characters, not the api_token)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "nats_password" {
  description = "NATS client password (TF_VAR_nats_password)."
  type        = string
  sensitive   = true
}

variable "worker_secret" {
  description = "Secret each worker's own NATS and etcd passwords are derived from (TF_VAR_worker_secret: openssl rand -hex 32)."
  type        = string
  sensitive   = true
}

variable "etcd_root_password" {
  description = "etcd's root password: with it each worker gets an etcd user that may write only its own announcement (TF_VAR_etcd_root_password: openssl rand -hex 24)."
  type        = string
  sensitive   = true
}

variable "etcd_coordinator_password" {
  description = "Password of the coordinators' etcd user (TF_VAR_etcd_coordinator_password: openssl rand -hex 24)."
  type        = string
  sensitive   = true
}

variable "nats_route_password" {
  description = "NATS route password (TF_VAR_nats_route_password)."
  type        = string
  sensitive   = true
}

variable "hf_token" {
  description = "Hugging Face token for gated models (TF_VAR_hf_token), or empty."
  type        = string
  default     = ""
  sensitive   = true
}

variable "tls_dir" {
  description = "Directory with ca.pem, server.pem, server-key.pem, node.pem and node-key.pem (deploy/terraform/gen-tls.sh writes them)."
  type        = string
  default     = "./tls"
}

variable "sanafarm_binary_url" {
  description = "https URL of the static sanafarm binary (coordinators)."
  type        = string
}

variable "sanafarm_binary_sha256" {
  description = "sha256 of sanafarm_binary_url."
  type        = string
}

variable "node_binary_url" {
  description = "https URL of the CUDA sanafarm binary (workers)."
  type        = string
}

variable "node_binary_sha256" {
  description = "sha256 of node_binary_url."
  type        = string
}

variable "etcd_release_sha256" {
  description = "sha256 of the module's default etcd release archive."
  type        = string
}

variable "nats_release_sha256" {
  description = "sha256 of the module's default nats-server release archive."
  type        = string
}

variable "bucket_name" {
  description = "Spaces bucket to create for outputs and the model mirror."
  type        = string
}

variable "spaces_region" {
  description = "Spaces region of the bucket."
  type        = string
  default     = "nyc3"
}
