# The API in front of the coordinators: with api_load_balancer, an HTTPS
# load balancer (Let's Encrypt certificate for api.<cluster_name>.<dns_zone>,
# health check /v1/health) that only api_allowed_cidrs may reach; without it,
# a round-robin name over the coordinators' public addresses (HTTPS on port
# 7700 with the cluster certificate, so clients pass --ca-cert ca.pem;
# restricted by the coordinator firewall). The coordinators serve HTTPS
# either way: the load balancer re-encrypts to them.

resource "digitalocean_certificate" "api" {
  count   = var.api_load_balancer ? 1 : 0
  name    = "${var.cluster_name}-api"
  type    = "lets_encrypt"
  domains = [local.api_fqdn]

  lifecycle {
    create_before_destroy = true
  }
}

resource "digitalocean_loadbalancer" "api" {
  count       = var.api_load_balancer ? 1 : 0
  name        = "${var.cluster_name}-api"
  region      = var.region
  vpc_uuid    = digitalocean_vpc.this.id
  droplet_tag = digitalocean_tag.coordinator.id

  redirect_http_to_https = true
  # Each backend connection opens with a PROXY header naming its client
  # (the coordinators run with --proxy-protocol, main.tf); without backend
  # keep-alive no connection carries two clients' requests.
  enable_proxy_protocol    = true
  enable_backend_keepalive = false

  forwarding_rule {
    entry_port       = 443
    entry_protocol   = "https"
    target_port      = local.ports.api
    target_protocol  = "https"
    certificate_name = digitalocean_certificate.api[0].name
  }

  healthcheck {
    port     = local.ports.api
    protocol = "https"
    path     = "/v1/health"
  }

  firewall {
    allow = [for c in var.api_allowed_cidrs : "cidr:${c}"]
  }

  depends_on = [digitalocean_droplet.coordinator]
}

resource "digitalocean_record" "api_lb" {
  count  = var.api_load_balancer ? 1 : 0
  domain = var.dns_zone
  type   = "A"
  name   = "api.${var.cluster_name}"
  value  = digitalocean_loadbalancer.api[0].ip
  ttl    = 300
}

resource "digitalocean_record" "api_direct" {
  count  = var.api_load_balancer ? 0 : var.coordinator_count
  domain = var.dns_zone
  type   = "A"
  name   = "api.${var.cluster_name}"
  value  = digitalocean_droplet.coordinator[count.index].ipv4_address
  ttl    = 60
}
