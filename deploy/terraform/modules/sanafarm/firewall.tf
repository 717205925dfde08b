# Cloud firewalls. Only the API/dashboard is reachable from outside the VPC
# (from api_allowed_cidrs, or only from the load balancer when there is
# one), plus SSH from ssh_allowed_cidrs. Raft, etcd, NATS and metrics ports
# accept the VPC range only; deploy's Go tests check that no rule opens them
# to 0.0.0.0/0 or ::/0.

locals {
  internal_ports = [
    local.ports.raft,
    local.ports.etcd_client,
    local.ports.etcd_peer,
    local.ports.etcd_metrics,
    local.ports.nats_client,
    local.ports.nats_cluster,
    local.ports.nats_monitor,
  ]
  api_sources = var.api_load_balancer ? [digitalocean_vpc.this.ip_range] : concat([digitalocean_vpc.this.ip_range], var.api_allowed_cidrs)
}

resource "digitalocean_firewall" "coordinator" {
  name = "${var.cluster_name}-coordinator"
  tags = [digitalocean_tag.coordinator.id]

  inbound_rule {
    protocol                  = "tcp"
    port_range                = tostring(local.ports.api)
    source_addresses          = local.api_sources
    source_load_balancer_uids = var.api_load_balancer ? [digitalocean_loadbalancer.api[0].id] : []
  }

  dynamic "inbound_rule" {
    for_each = local.internal_ports
    content {
      protocol         = "tcp"
      port_range       = tostring(inbound_rule.value)
      source_addresses = [digitalocean_vpc.this.ip_range]
    }
  }

  dynamic "inbound_rule" {
    for_each = length(var.ssh_allowed_cidrs) > 0 ? [1] : []
    content {
      protocol         = "tcp"
      port_range       = "22"
      source_addresses = var.ssh_allowed_cidrs
    }
  }

  inbound_rule {
    protocol         = "icmp"
    source_addresses = [digitalocean_vpc.this.ip_range]
  }

  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }
}

# Workers accept nothing from outside the VPC but SSH (when allowed) and
# their /metrics from inside it (Prometheus in the VPC): they dial out to
# NATS, etcd, S3 and the model hub.
resource "digitalocean_firewall" "worker" {
  name = "${var.cluster_name}-worker"
  tags = [digitalocean_tag.worker.id]

  inbound_rule {
    protocol         = "tcp"
    port_range       = tostring(local.ports.node_metrics)
    source_addresses = [digitalocean_vpc.this.ip_range]
  }

  dynamic "inbound_rule" {
    for_each = length(var.ssh_allowed_cidrs) > 0 ? [1] : []
    content {
      protocol         = "tcp"
      port_range       = "22"
      source_addresses = var.ssh_allowed_cidrs
    }
  }

  inbound_rule {
    protocol         = "icmp"
    source_addresses = [digitalocean_vpc.this.ip_range]
  }

  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }
}
