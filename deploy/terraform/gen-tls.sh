#!/usr/bin/env bash
# gen-tls.sh CLUSTER_NAME DNS_ZONE [DIR]: writes a cluster CA, one
# certificate for the coordinators (etcd client/peer, NATS client/route,
# Raft mutual TLS, the HTTPS API) valid for *.CLUSTER_NAME.DNS_ZONE,
# localhost and 127.0.0.1, and one client-only certificate for the workers
# (etcd client auth; without the server usage it is refused by Raft), into
# DIR (default ./tls): ca.pem, ca-key.pem, server.pem, server-key.pem,
# node.pem, node-key.pem. Keep ca-key.pem offline; the others go to
# Terraform.
set -euo pipefail
name="${1:?usage: gen-tls.sh CLUSTER_NAME DNS_ZONE [DIR]}"
zone="${2:?usage: gen-tls.sh CLUSTER_NAME DNS_ZONE [DIR]}"
dir="${3:-./tls}"
mkdir -p "$dir"
umask 077
cd "$dir"
if [ ! -f ca.pem ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=$name sanafarm CA" -keyout ca-key.pem -out ca.pem
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=*.$name.$zone" \
	-keyout server-key.pem -out server.csr
cat >server.ext <<EXT
subjectAltName = DNS:*.$name.$zone, DNS:localhost, IP:127.0.0.1
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
	-extfile server.ext -out server.pem
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name sanafarm node" \
	-keyout node-key.pem -out node.csr
cat >node.ext <<EXT
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EXT
openssl x509 -req -in node.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
	-extfile node.ext -out node.pem
rm -f server.csr server.ext node.csr node.ext ca.srl
chmod 0644 ca.pem server.pem node.pem
echo "wrote $dir/ca.pem, server.pem, server-key.pem, node.pem, node-key.pem (keep $dir/ca-key.pem offline)"
