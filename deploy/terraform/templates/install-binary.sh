#!/bin/sh
# install-binary.sh URL SHA256 NAME...: downloads URL, checks its sha256 and
# installs NAME (the file itself, or each NAME found inside a .tar.gz) into
# /usr/local/bin. Written by cloud-init and run from its runcmd.
set -eu
url="$1"
sum="$2"
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 8 --retry-delay 3 --retry-all-errors -o "$tmp/download" "$url"
echo "$sum  $tmp/download" | sha256sum -c -
case "$url" in
*.tar.gz | *.tgz)
	mkdir "$tmp/x"
	tar -xzf "$tmp/download" -C "$tmp/x"
	for name in "$@"; do
		bin=$(find "$tmp/x" -type f -name "$name" | head -n 1)
		[ -n "$bin" ] || { echo "install-binary: $name not in $url" >&2; exit 1; }
		install -m 0755 "$bin" "/usr/local/bin/$name"
	done
	;;
*)
	install -m 0755 "$tmp/download" "/usr/local/bin/$1"
	;;
esac
