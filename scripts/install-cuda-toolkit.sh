#!/usr/bin/env bash
# Installs what compiling the CUDA backend's cgo code needs (cuda.h, the
# libcuda link stub, nvcc for ptx-check): Debian's nvidia-cuda-toolkit from
# non-free (~1.6 GB download, ~4 min the first time; a no-op when nvcc and
# cuda.h are there). NVIDIA's headers stay out of the repository.
set -euo pipefail

if command -v nvcc >/dev/null 2>&1 && [ -f /usr/include/cuda.h ]; then
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if ! grep -rqsE '^(Components:|deb ).*non-free( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	# Same URI and keyring as debian.sources: apt refuses two entries for
	# one suite with different Signed-By values.
	printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm bookworm-updates' \
		'Components: contrib non-free non-free-firmware' \
		'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
		$sudo tee /etc/apt/sources.list.d/sanafarm-nonfree.sources >/dev/null
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit
