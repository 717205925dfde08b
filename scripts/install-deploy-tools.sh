#!/usr/bin/env bash
# Builds the deploy checkers (terraform, tflint) from the Go module proxy into
# a cache directory, only when they are missing, and prints that directory.
# Terraform v1.5.7 is the last MPL-licensed release (~4 min to build the first
# time); tflint v0.64.0 checks the modules offline with core rules only.
#
#   SANAFARM_TOOLS  cache directory (default $HOME/.cache/sanafarm/tools)
#   GO              go command (default go)
set -euo pipefail

TOOLS="${SANAFARM_TOOLS:-$HOME/.cache/sanafarm/tools}"
case "$TOOLS" in
/*) ;;
*) echo "SANAFARM_TOOLS=$TOOLS: want an absolute path (a relative one, or an unexpanded make expression, would fill the working directory)" >&2; exit 2 ;;
esac
GO="${GO:-go}"
TERRAFORM_VERSION="v1.5.7"
TFLINT_VERSION="v0.64.0"

mkdir -p "$TOOLS"

# install NAME MODULE VERSION: go install MODULE@VERSION into $TOOLS/NAME-VERSION/
install() {
	local name="$1" module="$2" version="$3"
	local dir="$TOOLS/$name-$version"
	if [ -x "$dir/$name" ]; then
		ln -sfn "$dir/$name" "$TOOLS/$name"
		return
	fi
	echo "building $name $version from the Go module proxy (cached in $dir)" >&2
	local start=$SECONDS
	mkdir -p "$dir.tmp"
	CGO_ENABLED=0 GOBIN="$dir.tmp" GOFLAGS=-trimpath "$GO" install "$module@$version"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	ln -sfn "$dir/$name" "$TOOLS/$name"
	echo "built $name $version in $((SECONDS - start)) s" >&2
}

install terraform github.com/hashicorp/terraform "$TERRAFORM_VERSION"
install tflint github.com/terraform-linters/tflint "$TFLINT_VERSION"
echo "$TOOLS"
