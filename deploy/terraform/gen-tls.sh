#!/usr/bin/env bash
# gen-tls.sh CLUSTER_NAME DNS_ZONE [DIR]: writes a cluster CA and one
# certificate for the coordinators (etcd client/peer, NATS client/route),
# valid for *.CLUSTER_NAME.DNS_ZONE, localhost and 127.0.0.1, into DIR
# (default ./tls): ca.pem, ca-key.pem, server.pem, server-key.pem.
# Keep ca-key.pem offline; only ca.pem, server.pem and server-key.pem go to
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
rm -f server.csr server.ext ca.srl
chmod 0644 ca.pem server.pem
echo "wrote $dir/ca.pem, $dir/server.pem, $dir/server-key.pem (keep $dir/ca-key.pem offline)"
