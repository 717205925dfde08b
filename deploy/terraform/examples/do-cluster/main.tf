# Example root module: a sanafarm cluster on DigitalOcean with 3
# coordinators and H100 workers. Copy terraform.tfvars.example to
# terraform.tfvars, fill it in, and pass the secrets through TF_VAR_*
# environment variables (docs/deploy.md).

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "~> 2.40"
    }
  }
}

provider "digitalocean" {
  token             = var.do_token
  spaces_access_id  = var.spaces_access_id
  spaces_secret_key = var.spaces_secret_key
}

module "sanafarm" {
  source = "../../modules/sanafarm"

  cluster_name      = var.cluster_name
  region            = var.region
  dns_zone          = var.dns_zone
  coordinator_count = var.coordinator_count
  worker_count      = var.worker_count
  worker_size       = var.worker_size
  worker_image      = var.worker_image
  worker_devices    = var.worker_devices
  ssh_key_ids       = var.ssh_key_ids
  ssh_allowed_cidrs = var.ssh_allowed_cidrs
  api_allowed_cidrs = var.api_allowed_cidrs

  api_token                 = var.api_token
  metrics_token             = var.metrics_token
  read_token                = var.read_token
  nats_password             = var.nats_password
  worker_secret             = var.worker_secret
  etcd_root_password        = var.etcd_root_password
  etcd_coordinator_password = var.etcd_coordinator_password
  nats_route_password       = var.nats_route_password
  hf_token                  = var.hf_token

  tls_ca_cert = file("${var.tls_dir}/ca.pem")
  tls_cert    = file("${var.tls_dir}/server.pem")
  tls_key     = file("${var.tls_dir}/server-key.pem")

  tls_node_cert = file("${var.tls_dir}/node.pem")
  tls_node_key  = file("${var.tls_dir}/node-key.pem")

  sanafarm_binary_url    = var.sanafarm_binary_url
  sanafarm_binary_sha256 = var.sanafarm_binary_sha256
  node_binary_url        = var.node_binary_url
  node_binary_sha256     = var.node_binary_sha256
  etcd_release_sha256    = var.etcd_release_sha256
  nats_release_sha256    = var.nats_release_sha256

  bucket_name          = var.bucket_name
  spaces_region        = var.spaces_region
  s3_access_key_id     = var.spaces_access_id
  s3_secret_access_key = var.spaces_secret_key
}
