# ---- cluster shape ---------------------------------------------------------

variable "cluster_name" {
  description = "Name of the cluster: prefix of droplet, firewall and tag names, and the DNS label under dns_zone (c0.<cluster_name>.<dns_zone>)."
  type        = string
  default     = "sanafarm"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 3-32 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  description = "DigitalOcean region of the VPC and droplets; it must offer the GPU size in worker_size (e.g. nyc2, tor1, atl1 for H100s)."
  type        = string
  default     = "nyc2"

  validation {
    condition     = can(regex("^[a-z]{3}[0-9]$", var.region))
    error_message = "region must be a DigitalOcean region slug such as nyc2 or tor1."
  }
}

variable "vpc_ip_range" {
  description = "Private IPv4 range of the cluster's VPC (CIDR). Raft, etcd, NATS and metrics traffic is allowed only from this range."
  type        = string
  default     = "10.42.0.0/20"

  validation {
    condition     = can(cidrhost(var.vpc_ip_range, 0)) && !startswith(var.vpc_ip_range, "0.0.0.0")
    error_message = "vpc_ip_range must be a private IPv4 CIDR such as 10.42.0.0/20."
  }
}

variable "dns_zone" {
  description = "A domain managed by DigitalOcean DNS. Coordinators get private A records c<i>.<cluster_name>.<dns_zone> (stable names for Raft, etcd and NATS peers and their TLS certificate) and the API gets api.<cluster_name>.<dns_zone>."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.dns_zone))
    error_message = "dns_zone must be a domain name such as example.com."
  }
}

variable "coordinator_count" {
  description = "Coordinator droplets: each runs one Raft voter, one etcd member and one NATS server. 3 tolerates one loss, 5 tolerates two (1 is for trials only)."
  type        = number
  default     = 3

  validation {
    condition     = contains([1, 3, 5], var.coordinator_count)
    error_message = "coordinator_count must be 1, 3 or 5."
  }
}

variable "coordinator_size" {
  description = "Droplet size slug of the coordinators."
  type        = string
  default     = "s-2vcpu-4gb"

  validation {
    condition     = length(var.coordinator_size) > 0
    error_message = "coordinator_size must be a droplet size slug."
  }
}

variable "coordinator_image" {
  description = "Image slug of the coordinators (a systemd distribution with cloud-init)."
  type        = string
  default     = "ubuntu-24-04-x64"

  validation {
    condition     = length(var.coordinator_image) > 0
    error_message = "coordinator_image must be an image slug or id."
  }
}

variable "worker_count" {
  description = "GPU worker droplets, each running `sanafarm node`. Scale down only after draining (docs/deploy.md)."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 0 && var.worker_count <= 200 && floor(var.worker_count) == var.worker_count
    error_message = "worker_count must be a whole number between 0 and 200."
  }
}

variable "worker_size" {
  description = "Droplet size slug of the workers, e.g. gpu-h100x1-80gb or gpu-h100x8-640gb (or a CPU size with worker_backend = \"cpu\")."
  type        = string
  default     = "gpu-h100x1-80gb"

  validation {
    condition     = length(var.worker_size) > 0
    error_message = "worker_size must be a droplet size slug."
  }
}

variable "worker_image" {
  description = "Image of the workers: a GPU-ready base image with the NVIDIA driver (gpu-h100x1-base, gpu-h100x8-base), or ubuntu-24-04-x64 for CPU workers."
  type        = string
  default     = "gpu-h100x1-base"

  validation {
    condition     = length(var.worker_image) > 0
    error_message = "worker_image must be an image slug or id."
  }
}

variable "worker_backend" {
  description = "Compute backend of `sanafarm node` on the workers: cuda (needs the CUDA build, node_binary_url) or cpu."
  type        = string
  default     = "cuda"

  validation {
    condition     = contains(["cuda", "cpu"], var.worker_backend)
    error_message = "worker_backend must be cuda or cpu."
  }
}

variable "worker_devices" {
  description = "CUDA device ordinals of each worker, one slot each (--devices): \"0\" for one GPU, \"0,1,2,3,4,5,6,7\" for eight."
  type        = string
  default     = "0"

  validation {
    condition     = can(regex("^[0-9]+(,[0-9]+)*$", var.worker_devices))
    error_message = "worker_devices must be a comma-separated list of device ordinals such as 0,1."
  }
}

variable "coordinator_extra_flags" {
  description = "Extra flags appended to `sanafarm coordinator` (e.g. \"--lease-ttl 1m --log-level debug\")."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("[\"'\\\\$;&|\\n]", var.coordinator_extra_flags))
    error_message = "coordinator_extra_flags must be plain flags without quotes, $, ;, &, | or newlines."
  }
}

variable "worker_extra_flags" {
  description = "Extra flags appended to `sanafarm node` (e.g. \"--poll-interval 1s\")."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("[\"'\\\\$;&|\\n]", var.worker_extra_flags))
    error_message = "worker_extra_flags must be plain flags without quotes, $, ;, &, | or newlines."
  }
}

variable "tags" {
  description = "Extra DigitalOcean tags put on every droplet."
  type        = list(string)
  default     = []
}

# ---- access ----------------------------------------------------------------

variable "ssh_key_ids" {
  description = "DigitalOcean SSH key ids or fingerprints installed on every droplet."
  type        = list(string)
  default     = []
}

variable "ssh_allowed_cidrs" {
  description = "CIDRs allowed to reach SSH (port 22) on the droplets; empty closes SSH from outside the VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "ssh_allowed_cidrs must hold CIDRs such as 203.0.113.0/24."
  }
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the HTTP API and dashboard (through the load balancer, or port 7700 of the coordinators without one). Nothing else is exposed."
  type        = list(string)

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "api_allowed_cidrs must hold at least one CIDR such as 203.0.113.0/24 (0.0.0.0/0 is allowed for the API only)."
  }
}

variable "api_load_balancer" {
  description = "Put a DigitalOcean load balancer with a Let's Encrypt certificate for api.<cluster_name>.<dns_zone> in front of the coordinators (HTTPS on 443). Without it the API is plain HTTP on port 7700 of each coordinator."
  type        = bool
  default     = true
}

# ---- secrets (sensitive: never in outputs; keep them out of shell history) --

variable "api_token" {
  description = "Bearer token of the HTTP API (SANAFARM_TOKEN). At least 32 URL-safe characters."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9._~-]{32,}$", var.api_token))
    error_message = "api_token must be at least 32 characters of A-Z a-z 0-9 . _ ~ -."
  }
}

variable "read_token" {
  description = "A second API token that may read everything (jobs, nodes, events, the dashboard) and change nothing (SANAFARM_READ_TOKEN), for people who should look but not act. Empty: none. At least 32 URL-safe characters, not the api_token."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.read_token == "" || can(regex("^[A-Za-z0-9._~-]{32,}$", var.read_token))
    error_message = "read_token must be empty or at least 32 characters of A-Z a-z 0-9 . _ ~ -."
  }
}

variable "metrics_token" {
  description = "Bearer token every /metrics (coordinators' API port, workers' :9464) asks for (SANAFARM_METRICS_TOKEN): give Prometheus it in authorization.credentials_file. Empty: /metrics stays public inside the VPC. At least 32 URL-safe characters, not the api_token."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.metrics_token == "" || can(regex("^[A-Za-z0-9._~-]{32,}$", var.metrics_token))
    error_message = "metrics_token must be empty or at least 32 characters of A-Z a-z 0-9 . _ ~ -."
  }
}

variable "nats_password" {
  description = "Password of the NATS user coordinator (the coordinators connect as it; nodes never see it). At least 24 letters or digits."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9]{24,}$", var.nats_password))
    error_message = "nats_password must be at least 24 letters or digits."
  }
}

variable "nats_node_password" {
  description = "Password of the shared NATS user node, which workers connect as when worker_secret is empty and nats_node_passwords has no entry for them (they can publish only node requests and gang traffic, never replies, but under each other's names). At least 24 letters or digits; needed only without worker_secret."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.nats_node_password == "" || can(regex("^[A-Za-z0-9]{24,}$", var.nats_node_password))
    error_message = "nats_node_password must be empty or at least 24 letters or digits."
  }
}

variable "worker_secret" {
  description = "Secret from which each worker's own NATS password is derived (docs/deploy.md §3.8): worker <cluster_name>-w<i> gets sha256(\"<worker_secret>:nats:<name>\") in its user data, and the coordinators render a user for every worker name below worker_limit at boot with `sanafarm nats-auth`, so no worker can act as or read for another and the user data keeps its size. At least 32 letters or digits (openssl rand -hex 32). Empty: workers share the user node (not recommended on a shared cluster)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.worker_secret == "" || can(regex("^[A-Za-z0-9]{32,}$", var.worker_secret))
    error_message = "worker_secret must be empty or at least 32 letters or digits."
  }
}

variable "worker_limit" {
  description = "How many worker names (<cluster_name>-w0 onwards) the coordinators give a NATS user of their own at boot, with worker_secret. Coordinators ignore later user data changes: to grow past it, run `sanafarm nats-auth` with a larger --count on each coordinator (docs/deploy.md §3.8)."
  type        = number
  default     = 256

  validation {
    condition     = var.worker_limit >= 1 && var.worker_limit <= 10000 && floor(var.worker_limit) == var.worker_limit
    error_message = "worker_limit must be a whole number between 1 and 10000."
  }
}

variable "nats_node_passwords" {
  description = "Optional NATS passwords of their own for workers: worker name (<cluster_name>-w<i>) => password (at least 24 letters or digits), taking precedence over the one worker_secret derives. Such a worker cannot send gang traffic as another node or read another node's replies."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for id, pw in var.nats_node_passwords : can(regex("^[A-Za-z0-9_-]+$", id)) && can(regex("^[A-Za-z0-9]{24,}$", pw))])
    error_message = "nats_node_passwords: names of letters, digits, '_' or '-', passwords of at least 24 letters or digits."
  }
}

variable "etcd_root_password" {
  description = "Set it, with etcd_coordinator_password and worker_secret (or an entry in etcd_node_passwords for every worker), to give each worker an etcd user that may write only its own announcement (docs/deploy.md §3.7): the first coordinator runs sanafarm etcd-auth, which derives the password of every worker name below worker_limit from worker_secret as each worker's droplet does. At least 24 letters or digits. Empty (the default): etcd authenticates clients by certificate only, and any worker may write any key."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.etcd_root_password == "" || can(regex("^[A-Za-z0-9]{24,}$", var.etcd_root_password))
    error_message = "etcd_root_password must be empty or at least 24 letters or digits."
  }
}

variable "etcd_coordinator_password" {
  description = "Password of the coordinators' etcd user sanafarm-coordinator (with etcd_root_password). At least 24 letters or digits."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.etcd_coordinator_password == "" || can(regex("^[A-Za-z0-9]{24,}$", var.etcd_coordinator_password))
    error_message = "etcd_coordinator_password must be empty or at least 24 letters or digits."
  }
}

variable "etcd_node_passwords" {
  description = "The workers' etcd passwords of their own (with etcd_root_password): worker name (<cluster_name>-w<i>) => password (at least 24 letters or digits), taking precedence over the one worker_secret derives. Without worker_secret every worker needs one: once authentication is on, a worker without a user is refused."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for id, pw in var.etcd_node_passwords : can(regex("^[A-Za-z0-9_-]+$", id)) && can(regex("^[A-Za-z0-9]{24,}$", pw))])
    error_message = "etcd_node_passwords: names of letters, digits, '_' or '-', passwords of at least 24 letters or digits."
  }
}

variable "nats_route_password" {
  description = "Password the NATS servers use to route to each other. At least 24 letters or digits."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9]{24,}$", var.nats_route_password))
    error_message = "nats_route_password must be at least 24 letters or digits."
  }
}

variable "tls_ca_cert" {
  description = "PEM of the cluster CA: trusted by every droplet; verifies etcd and NATS servers, etcd peers and clients, the coordinators' Raft peers (mutual TLS) and their HTTPS API."
  type        = string

  validation {
    condition     = startswith(trimspace(var.tls_ca_cert), "-----BEGIN CERTIFICATE-----")
    error_message = "tls_ca_cert must be a PEM certificate."
  }
}

variable "tls_cert" {
  description = "PEM certificate of the coordinators, signed by tls_ca_cert, valid for *.<cluster_name>.<dns_zone>, localhost and 127.0.0.1, with server and client auth usages (deploy/terraform/gen-tls.sh makes one)."
  type        = string

  validation {
    condition     = startswith(trimspace(var.tls_cert), "-----BEGIN CERTIFICATE-----")
    error_message = "tls_cert must be a PEM certificate."
  }
}

variable "tls_key" {
  description = "PEM private key of tls_cert."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("-----BEGIN [A-Z ]*PRIVATE KEY-----", var.tls_key))
    error_message = "tls_key must be a PEM private key."
  }
}

variable "tls_node_cert" {
  description = "PEM client certificate of the workers, signed by tls_ca_cert, with the client auth usage only: it opens etcd (which requires client certificates) but never the coordinators' Raft transport (gen-tls.sh makes node.pem)."
  type        = string

  validation {
    condition     = startswith(trimspace(var.tls_node_cert), "-----BEGIN CERTIFICATE-----")
    error_message = "tls_node_cert must be a PEM certificate."
  }
}

variable "tls_node_key" {
  description = "PEM private key of tls_node_cert."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("-----BEGIN [A-Z ]*PRIVATE KEY-----", var.tls_node_key))
    error_message = "tls_node_key must be a PEM private key."
  }
}

variable "hf_token" {
  description = "Hugging Face token for gated model downloads on the workers (HF_TOKEN); empty when the models come from the S3 mirror or are public."
  type        = string
  default     = ""
  sensitive   = true
}

# ---- binaries (installed by cloud-init, checked against their sha256) -------

variable "sanafarm_binary_url" {
  description = "URL of the static sanafarm binary (make build / the release) installed on the coordinators (and on CPU workers)."
  type        = string

  validation {
    condition     = startswith(var.sanafarm_binary_url, "https://")
    error_message = "sanafarm_binary_url must be an https URL."
  }
}

variable "sanafarm_binary_sha256" {
  description = "sha256 of the file at sanafarm_binary_url."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.sanafarm_binary_sha256))
    error_message = "sanafarm_binary_sha256 must be 64 lowercase hex digits."
  }
}

variable "node_binary_url" {
  description = "URL of the sanafarm binary of the workers: the CUDA build (make build-cuda) for worker_backend = \"cuda\"; empty: sanafarm_binary_url."
  type        = string
  default     = ""

  validation {
    condition     = var.node_binary_url == "" || startswith(var.node_binary_url, "https://")
    error_message = "node_binary_url must be empty or an https URL."
  }
}

variable "node_binary_sha256" {
  description = "sha256 of the file at node_binary_url (empty with an empty node_binary_url)."
  type        = string
  default     = ""

  validation {
    condition     = var.node_binary_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.node_binary_sha256))
    error_message = "node_binary_sha256 must be empty or 64 lowercase hex digits."
  }
}

variable "etcd_release_url" {
  description = "URL of the etcd release archive (linux-amd64 .tar.gz with etcd and etcdctl)."
  type        = string
  default     = "https://github.com/etcd-io/etcd/releases/download/v3.7.3/etcd-v3.7.3-linux-amd64.tar.gz"

  validation {
    condition     = startswith(var.etcd_release_url, "https://")
    error_message = "etcd_release_url must be an https URL."
  }
}

variable "etcd_release_sha256" {
  description = "sha256 of the file at etcd_release_url (from the release's SHA256SUMS)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.etcd_release_sha256))
    error_message = "etcd_release_sha256 must be 64 lowercase hex digits."
  }
}

variable "nats_release_url" {
  description = "URL of the nats-server release archive (linux-amd64 .tar.gz)."
  type        = string
  default     = "https://github.com/nats-io/nats-server/releases/download/v2.15.2/nats-server-v2.15.2-linux-amd64.tar.gz"

  validation {
    condition     = startswith(var.nats_release_url, "https://")
    error_message = "nats_release_url must be an https URL."
  }
}

variable "nats_release_sha256" {
  description = "sha256 of the file at nats_release_url (from the release's SHA256SUMS)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.nats_release_sha256))
    error_message = "nats_release_sha256 must be 64 lowercase hex digits."
  }
}

# ---- object storage --------------------------------------------------------

variable "create_bucket" {
  description = "Create a Spaces bucket named bucket_name in spaces_region (needs Spaces keys in the provider). False: use an existing bucket at s3_endpoint."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Bucket of job outputs (s3://<bucket_name>/...) and of the model mirror (under models/)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, dashes)."
  }
}

variable "spaces_region" {
  description = "Spaces region of the bucket (Spaces regions differ from GPU regions: nyc3, sfo3, ams3, fra1, sgp1, syd1)."
  type        = string
  default     = "nyc3"

  validation {
    condition     = can(regex("^[a-z]{3}[0-9]$", var.spaces_region))
    error_message = "spaces_region must be a region slug such as nyc3."
  }
}

variable "s3_endpoint" {
  description = "S3 endpoint URL the farm writes to; empty: the Spaces endpoint of spaces_region (https://<spaces_region>.digitaloceanspaces.com)."
  type        = string
  default     = ""

  validation {
    condition     = var.s3_endpoint == "" || can(regex("^https?://", var.s3_endpoint))
    error_message = "s3_endpoint must be empty or an http(s) URL."
  }
}

variable "s3_access_key_id" {
  description = "Access key the coordinators and nodes use for the bucket (AWS_ACCESS_KEY_ID)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.s3_access_key_id) >= 8
    error_message = "s3_access_key_id must be set."
  }
}

variable "s3_secret_access_key" {
  description = "Secret key of s3_access_key_id (AWS_SECRET_ACCESS_KEY)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.s3_secret_access_key) >= 16 && !can(regex("[\\s\"'\\\\]", var.s3_secret_access_key))
    error_message = "s3_secret_access_key must be set (no spaces, quotes or backslashes)."
  }
}

variable "allow_read" {
  description = "Where jobs may read prompt files: comma-separated roots (s3://bucket, s3://bucket/prefix or absolute paths) given to --allow-read of the coordinators and the workers. Empty: the whole bucket_name bucket."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("[\\s\"'\\\\$;&|]", var.allow_read))
    error_message = "allow_read must be comma-separated roots without spaces, quotes, $, ;, & or |."
  }
}

variable "allow_write" {
  description = "Where jobs may write outputs: comma-separated roots (s3://bucket, s3://bucket/prefix or absolute paths) given to --allow-write of the coordinators and the workers. Empty: the whole bucket_name bucket."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("[\\s\"'\\\\$;&|]", var.allow_write))
    error_message = "allow_write must be comma-separated roots without spaces, quotes, $, ;, & or |."
  }
}
