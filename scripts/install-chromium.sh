#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser tests
# (coordinator/dashboard/browser_test.go drives it headless with chromedp)
# and prints its path as the last line. A no-op when it is there (~1 min
# and ~100 MB the first time; apt's cache keeps the packages).
set -euo pipefail

for name in chromium chromium-browser; do
	if p=$(command -v "$name"); then
		echo "$p"
		exit 0
	fi
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing chromium (apt) for the dashboard browser tests" >&2
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium >&2
command -v chromium
