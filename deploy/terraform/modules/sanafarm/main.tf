# sanafarm on DigitalOcean: a VPC, coordinator droplets (Raft voter + etcd
# member + NATS server each), GPU worker droplets running `sanafarm node`,
# stable private DNS names for the coordinators, a Spaces bucket and
# optionally an HTTPS load balancer for the API. Firewalls: firewall.tf.

locals {
  # Behind the load balancer every API connection comes from the
  # balancer: it opens each with a PROXY protocol header naming its client
  # (enable_proxy_protocol, api.tf), so connections per client are counted
  # per client, and X-Forwarded-For names the client of each request for
  # the wrong-token throttle. The coordinators believe both only from the
  # VPC (the balancer's private side; a worker, also in it, can only choose
  # the address its own connections and wrong tokens count against, and
  # the module requires 32-byte tokens).
  coordinator_flags = trimspace(join(" ", [
    var.api_load_balancer ? "--trusted-proxies ${var.vpc_ip_range} --proxy-protocol" : "",
    var.coordinator_extra_flags,
  ]))

  domain = "${var.cluster_name}.${var.dns_zone}"

  ports = {
    api          = 7700
    raft         = 7701
    etcd_client  = 2379
    etcd_peer    = 2380
    etcd_metrics = 2381
    nats_client  = 4222
    nats_cluster = 6222
    nats_monitor = 8222
    node_metrics = 9464 # sanafarm node --metrics-addr's default
  }

  coordinator_ids   = [for i in range(var.coordinator_count) : "c${i}"]
  coordinator_fqdns = [for id in local.coordinator_ids : "${id}.${local.domain}"]

  raft_peers           = join(",", [for i, id in local.coordinator_ids : "${id}=${local.coordinator_fqdns[i]}:${local.ports.raft}"])
  etcd_initial_cluster = join(",", [for i, id in local.coordinator_ids : "${id}=https://${local.coordinator_fqdns[i]}:${local.ports.etcd_peer}"])
  etcd_endpoints       = join(",", [for f in local.coordinator_fqdns : "https://${f}:${local.ports.etcd_client}"])
  nats_urls            = join(",", [for f in local.coordinator_fqdns : "tls://${f}:${local.ports.nats_client}"])
  nats_routes          = join(", ", [for f in local.coordinator_fqdns : "\"nats-route://route:${var.nats_route_password}@${f}:${local.ports.nats_cluster}\""])
  # NATS URLs with a role's password: only in the droplets' secrets.env.
  # Coordinators connect as user coordinator; a worker as its own user:
  # with the password nats_node_passwords gives it, else the one derived
  # from worker_secret (internal/workercred), else as the shared user node.
  nats_url_with_auth = join(",", [for f in local.coordinator_fqdns : "tls://coordinator:${var.nats_password}@${f}:${local.ports.nats_client}"])
  worker_prefix      = "${var.cluster_name}-w"
  worker_ids         = [for i in range(var.worker_count) : "${local.worker_prefix}${i}"]
  nats_worker_users = [for id in local.worker_ids : (
    lookup(var.nats_node_passwords, id, "") != "" ? "${id}:${var.nats_node_passwords[id]}"
    : var.worker_secret != "" ? "${id}:${sha256("${var.worker_secret}:nats:${id}")}"
    : "node:${var.nats_node_password}"
  )]
  nats_worker_urls = [for u in local.nats_worker_users : join(",", [for f in local.coordinator_fqdns : "tls://${u}@${f}:${local.ports.nats_client}"])]
  # The coordinators write their nats-server users at boot with sanafarm
  # nats-auth (one user per worker name below worker_limit), from these.
  nats_auth_env = join("", [
    "SANAFARM_NATS_COORDINATOR_PASSWORD=${var.nats_password}\n",
    var.worker_secret != "" ? "SANAFARM_WORKER_SECRET=${var.worker_secret}\n" : "SANAFARM_NATS_NODE_PASSWORD=${var.nats_node_password}\n",
  ])
  nats_auth_count = var.worker_secret != "" ? var.worker_limit : 0
  nats_node_users = join("", [for id, pw in var.nats_node_passwords : "${id} ${pw}\n"])

  # Per-node etcd users (docs/deploy.md §3.7): on with etcd_root_password.
  # The first coordinator runs sanafarm etcd-auth; every service connects
  # with its user (etcd ignores users until authentication is on).
  etcd_auth       = var.etcd_root_password != ""
  etcd_node_users = join("", [for id, pw in var.etcd_node_passwords : "${id} ${pw}\n"])
  # A worker's own password (etcd_node_passwords), else the one derived
  # from worker_secret (internal/workercred; sanafarm etcd-auth --count).
  etcd_worker_passwords = [for id in local.worker_ids : lookup(var.etcd_node_passwords, id,
  var.worker_secret != "" ? sha256("${var.worker_secret}:etcd:${id}") : "")]

  s3_endpoint = var.s3_endpoint != "" ? var.s3_endpoint : "https://${var.spaces_region}.digitaloceanspaces.com"
  s3_env = templatefile("${path.module}/../../templates/s3.env.tftpl", {
    bucket            = var.bucket_name
    access_key_id     = var.s3_access_key_id
    secret_access_key = var.s3_secret_access_key
    region            = var.spaces_region
    endpoint          = local.s3_endpoint
    lookup            = var.s3_endpoint == "" ? "virtual" : "auto"
  })

  systemd_dir    = "${path.module}/../../../systemd"
  install_script = file("${path.module}/../../templates/install-binary.sh")

  coordinator_tag = "${var.cluster_name}-coordinator"
  worker_tag      = "${var.cluster_name}-worker"

  node_binary_url    = var.node_binary_url != "" ? var.node_binary_url : var.sanafarm_binary_url
  node_binary_sha256 = var.node_binary_url != "" ? var.node_binary_sha256 : var.sanafarm_binary_sha256

  api_fqdn = "api.${local.domain}"

  # Where jobs may read prompt files and write outputs (--allow-read and
  # --allow-write of the coordinators and the workers): the bucket unless
  # the operator names other roots.
  allow_read  = var.allow_read != "" ? var.allow_read : "s3://${var.bucket_name}"
  allow_write = var.allow_write != "" ? var.allow_write : "s3://${var.bucket_name}"
}

resource "digitalocean_vpc" "this" {
  name     = "${var.cluster_name}-vpc"
  region   = var.region
  ip_range = var.vpc_ip_range
}

resource "digitalocean_tag" "coordinator" {
  name = local.coordinator_tag
}

resource "digitalocean_tag" "worker" {
  name = local.worker_tag
}

resource "digitalocean_droplet" "coordinator" {
  count    = var.coordinator_count
  name     = "${var.cluster_name}-${local.coordinator_ids[count.index]}"
  region   = var.region
  size     = var.coordinator_size
  image    = var.coordinator_image
  vpc_uuid = digitalocean_vpc.this.id
  ssh_keys = var.ssh_key_ids
  tags     = concat([digitalocean_tag.coordinator.id], var.tags)

  user_data = templatefile("${path.module}/../../templates/coordinator.yaml.tftpl", {
    cluster_name         = var.cluster_name
    id                   = local.coordinator_ids[count.index]
    fqdn                 = local.coordinator_fqdns[count.index]
    raft_peers           = local.raft_peers
    raft_port            = local.ports.raft
    api_port             = local.ports.api
    etcd_initial_cluster = local.etcd_initial_cluster
    etcd_endpoints       = local.etcd_endpoints
    nats_routes          = local.nats_routes
    nats_url             = local.nats_url_with_auth
    nats_auth_env        = local.nats_auth_env
    nats_node_users      = local.nats_node_users
    nats_auth_count      = local.nats_auth_count
    worker_secret        = local.etcd_auth && count.index == 0 ? var.worker_secret : ""
    worker_prefix        = local.worker_prefix
    nats_route_password  = var.nats_route_password
    api_token            = var.api_token
    metrics_token        = var.metrics_token
    read_token           = var.read_token
    tls_ca_cert          = var.tls_ca_cert
    tls_cert             = var.tls_cert
    tls_key              = var.tls_key
    s3_env               = local.s3_env
    extra_flags          = local.coordinator_flags
    allow_read           = local.allow_read
    allow_write          = local.allow_write
    install_script       = local.install_script
    coordinator_unit     = file("${local.systemd_dir}/sanafarm-coordinator.service")
    etcd_unit            = file("${local.systemd_dir}/etcd.service")
    etcd_auth_unit       = file("${local.systemd_dir}/sanafarm-etcd-auth.service")
    etcd_auth_setup      = local.etcd_auth && count.index == 0
    etcd_root_password   = var.etcd_root_password
    etcd_coordinator_pw  = local.etcd_auth ? var.etcd_coordinator_password : ""
    etcd_node_users      = local.etcd_node_users
    nats_unit            = file("${local.systemd_dir}/nats-server.service")
    sanafarm_url         = var.sanafarm_binary_url
    sanafarm_sha256      = var.sanafarm_binary_sha256
    etcd_url             = var.etcd_release_url
    etcd_sha256          = var.etcd_release_sha256
    nats_release_url     = var.nats_release_url
    nats_sha256          = var.nats_release_sha256
  })

  # A new user_data would replace a running voter: upgrades go through
  # docs/deploy.md (rolling, one voter at a time), not through Terraform.
  lifecycle {
    ignore_changes = [user_data, image]

    precondition {
      condition     = !local.etcd_auth || var.etcd_coordinator_password != ""
      error_message = "etcd_root_password is set: set etcd_coordinator_password too."
    }

    precondition {
      condition     = var.worker_secret != "" || var.nats_node_password != ""
      error_message = "Set worker_secret (each worker its own NATS user, docs/deploy.md §3.8) or nats_node_password (the shared user node)."
    }

    # The scrape config holds the metrics token: it must not also submit,
    # cancel and drain.
    precondition {
      condition     = var.metrics_token == "" || var.metrics_token != var.api_token
      error_message = "metrics_token is the api_token: give /metrics its own token."
    }

    # The coordinators refuse a read token that is the API token.
    precondition {
      condition     = var.read_token == "" || var.read_token != var.api_token
      error_message = "read_token is the api_token: give the read-only token its own value."
    }
  }
}

resource "digitalocean_droplet" "worker" {
  count    = var.worker_count
  name     = "${var.cluster_name}-w${count.index}"
  region   = var.region
  size     = var.worker_size
  image    = var.worker_image
  vpc_uuid = digitalocean_vpc.this.id
  ssh_keys = var.ssh_key_ids
  tags     = concat([digitalocean_tag.worker.id], var.tags)

  user_data = templatefile("${path.module}/../../templates/node.yaml.tftpl", {
    cluster_name    = var.cluster_name
    id              = "${var.cluster_name}-w${count.index}"
    backend         = var.worker_backend
    devices         = var.worker_devices
    etcd_endpoints  = local.etcd_endpoints
    model_mirror    = "s3://${var.bucket_name}/models"
    nats_url        = local.nats_worker_urls[count.index]
    etcd_password   = local.etcd_auth ? local.etcd_worker_passwords[count.index] : ""
    hf_token        = var.hf_token
    metrics_token   = var.metrics_token
    tls_ca_cert     = var.tls_ca_cert
    tls_node_cert   = var.tls_node_cert
    tls_node_key    = var.tls_node_key
    s3_env          = local.s3_env
    extra_flags     = var.worker_extra_flags
    allow_read      = local.allow_read
    allow_write     = local.allow_write
    install_script  = local.install_script
    node_unit       = file("${local.systemd_dir}/sanafarm-node.service")
    sanafarm_url    = local.node_binary_url
    sanafarm_sha256 = local.node_binary_sha256
  })

  lifecycle {
    ignore_changes = [user_data, image]

    precondition {
      condition     = !local.etcd_auth || local.etcd_worker_passwords[count.index] != ""
      error_message = "etcd_root_password is set but neither worker_secret nor an entry of etcd_node_passwords gives ${var.cluster_name}-w${count.index} a password: it would be refused by etcd."
    }

    # The coordinators created the NATS (and etcd) users of the first
    # worker_limit names at their boot; a later worker needs them first.
    precondition {
      condition     = var.worker_secret == "" || count.index < var.worker_limit
      error_message = "${var.cluster_name}-w${count.index} is past worker_limit (${var.worker_limit}): the coordinators have no NATS user for it. Run sanafarm nats-auth (and etcd-auth) with a larger --count on the coordinators first (docs/deploy.md §3.8), then raise worker_limit."
    }
  }
}

# Stable private names of the coordinators: Raft peers, etcd members and
# NATS routes address each other by these, so a replaced droplet keeps its
# identity (and the TLS certificate, issued for *.<cluster_name>.<dns_zone>).
resource "digitalocean_record" "coordinator" {
  count  = var.coordinator_count
  domain = var.dns_zone
  type   = "A"
  name   = "${local.coordinator_ids[count.index]}.${var.cluster_name}"
  value  = digitalocean_droplet.coordinator[count.index].ipv4_address_private
  ttl    = 60
}

resource "digitalocean_spaces_bucket" "outputs" {
  count  = var.create_bucket ? 1 : 0
  name   = var.bucket_name
  region = var.spaces_region
  acl    = "private"

  # A process killed mid-upload leaves its multipart upload's parts stored,
  # unlisted and billed. The leader aborts those under a job's staging when
  # the job ends (storage.DeletePrefix); this catches the rest (a manifest
  # or model mirror upload cut short) a day later.
  lifecycle_rule {
    id                                     = "abort-incomplete-multipart-uploads"
    enabled                                = true
    abort_incomplete_multipart_upload_days = 1
  }
}
