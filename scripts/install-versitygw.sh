#!/usr/bin/env bash
# Builds versitygw (the Apache-2.0 S3 gateway the S3 store's tests run
# against, posix backend) from the Go module proxy into a cache directory,
# only when it is missing, and prints the binary's path (last line).
# The first build takes ~3 min; later runs only print the path.
#
#   SANAFARM_TOOLS  cache directory (default $HOME/.cache/sanafarm/tools)
#   GO              go command (default go)
#
# internal/s3test finds the binary through $SANAFARM_VERSITYGW (which
# .ci/run sets from this script's output), versitygw on PATH,
# ~/go/bin/versitygw or this cache.
set -euo pipefail

TOOLS="${SANAFARM_TOOLS:-$HOME/.cache/sanafarm/tools}"
case "$TOOLS" in
/*) ;;
*) echo "SANAFARM_TOOLS=$TOOLS: want an absolute path (a relative one, or an unexpanded make expression, would fill the working directory)" >&2; exit 2 ;;
esac
GO="${GO:-go}"
VERSION="v1.8.0"
DIR="$TOOLS/versitygw-$VERSION"

if [ ! -x "$DIR/versitygw" ]; then
	echo "building versitygw $VERSION from the Go module proxy (cached in $DIR)" >&2
	start=$SECONDS
	mkdir -p "$TOOLS"
	tmp=$(mktemp -d "$TOOLS/versitygw-$VERSION.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-trimpath "$GO" install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
	rm -rf "$DIR"
	mv "$tmp" "$DIR"
	trap - EXIT
	echo "built versitygw $VERSION in $((SECONDS - start)) s" >&2
fi
ln -sfn "$DIR/versitygw" "$TOOLS/versitygw"
echo "$DIR/versitygw"
