#!/usr/bin/env bash
# Installs Debian's prometheus package for its promtool, which the metrics
# tests run as `promtool check metrics` over every component's /metrics
# (coordinator/metrics_test.go, node/metrics_test.go), and prints its path
# as the last line. A no-op when promtool is there.
set -euo pipefail

if p=$(command -v promtool); then
	echo "$p"
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing prometheus (apt) for promtool, the metrics tests' linter" >&2
$sudo apt-get update -q >&2
# The package's service is not wanted: policy-rc.d keeps it from starting
# where invoke-rc.d honours it; the binary is all the tests use.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends prometheus >&2
command -v promtool
