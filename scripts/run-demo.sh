#!/usr/bin/env bash
# make run: start the all-in-one farm (sanafarm dev) on a free port with a
# temporary data dir, submit examples/prompts.txt with the offline sana-tiny
# model, wait with a progress bar, print where the images are and the
# images/s, then stop the farm cleanly (Ctrl-C-equivalent SIGINT). With
# KEEP=1 (make run KEEP=1) the farm stays up until Ctrl-C, to browse the
# job in the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BIN=${BIN:-bin}
# DEMO_OUT: where the images go. Only a folder this script made (it holds
# the marker file below) is ever emptied; anything else that exists and is
# not empty is refused, so no variable can point this at a real folder.
DEMO_OUT=${SANAFARM_DEMO_OUT:-out/demo}
MARKER=.sanafarm-demo-output
IMAGES_PER_PROMPT=${IMAGES_PER_PROMPT:-4}
SIZE=${SIZE:-256}
STEPS=${STEPS:-10}
KEEP=${KEEP:-}

# SANAFARM=path runs a prebuilt binary (e.g. bin/gpu/sanafarm-cuda on a GPU
# host without Go); DEV_FLAGS are passed to `sanafarm dev` (--backend cuda).
SANAFARM=${SANAFARM:-}
DEV_FLAGS=${DEV_FLAGS:-}
if [ -z "$SANAFARM" ]; then
	echo "== building $BIN/sanafarm"
	mkdir -p "$BIN"
	CGO_ENABLED=0 "$GO" build -o "$BIN/sanafarm" ./cmd/sanafarm
	SANAFARM=$BIN/sanafarm
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sanafarm-demo.XXXXXX")
dev_pid=""
stop_dev() {
	if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
		kill -INT "$dev_pid"
		wait "$dev_pid" || true
		echo "== farm stopped"
	fi
	dev_pid=""
}
cleanup() {
	stop_dev
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting sanafarm dev (data $tmp/data, log $tmp/dev.log)"
# Jobs may read and write only under allow-listed roots: the working
# directory (examples/, out/demo) and DEMO_OUT wherever it is.
case $DEMO_OUT in /*) demo_root=$DEMO_OUT ;; *) demo_root=$PWD/$DEMO_OUT ;; esac
# shellcheck disable=SC2086 # DEV_FLAGS is a list of flags
"$SANAFARM" dev --data "$tmp/data" --http 127.0.0.1:0 --log-level warn \
	--allow-read "$PWD" --allow-write "$PWD" --allow-write "$demo_root" $DEV_FLAGS >"$tmp/dev.out" 2>"$tmp/dev.log" &
dev_pid=$!

addr=""
for _ in $(seq 1 600); do
	addr=$(sed -n 's/^sanafarm dev: API \(http[^ ]*\).*/\1/p' "$tmp/dev.out")
	[ -n "$addr" ] && break
	if ! kill -0 "$dev_pid" 2>/dev/null; then
		echo "sanafarm dev exited early:"; cat "$tmp/dev.out" "$tmp/dev.log"; exit 1
	fi
	sleep 0.1
done
if [ -z "$addr" ]; then
	echo "sanafarm dev did not print its API address within 60 s:"; cat "$tmp/dev.log"; exit 1
fi
# sanafarm dev prints its API address once its coordinator leads.
cat "$tmp/dev.out"

if [ -e "$DEMO_OUT" ] && [ -n "$(ls -A "$DEMO_OUT" 2>/dev/null)" ]; then
	if [ ! -f "$DEMO_OUT/$MARKER" ]; then
		echo "$DEMO_OUT exists and was not made by make run (no $MARKER in it): choose another SANAFARM_DEMO_OUT" >&2
		exit 1
	fi
	# Our own earlier demo output: remove exactly what a demo run writes.
	find "$DEMO_OUT" -mindepth 1 -maxdepth 1 \( -name '[0-9][0-9][0-9][0-9][0-9]' -o -name '[0-9]*_stats.json' \
		-o -name '[0-9]*.tar' -o -name '[0-9]*.parquet' -o -name 'manifest.*' -o -name '_attempts' \) -prune \
		-exec rm -rf -- {} +
fi
mkdir -p "$DEMO_OUT"
touch "$DEMO_OUT/$MARKER"
echo "== submitting examples/prompts.txt: sana-tiny, ${IMAGES_PER_PROMPT} images per prompt, ${SIZE}px, ${STEPS} steps"
"$SANAFARM" submit --addr "$addr" --model sana-tiny --prompts examples/prompts.txt \
	--images-per-prompt "$IMAGES_PER_PROMPT" --width "$SIZE" --height "$SIZE" --steps "$STEPS" --seed 1 \
	--shard-size 4 --name demo --dest "$DEMO_OUT" --wait
"$SANAFARM" nodes --addr "$addr"
if [ -n "$KEEP" ]; then
	echo "== the farm stays up: dashboard $addr/ui/, clients: --addr $addr; Ctrl-C stops it"
	trap ':' INT # Ctrl-C ends the wait (and the farm, which gets it too), then the summary below
	wait "$dev_pid" || true
	trap 'exit 130' INT TERM
fi
stop_dev
echo "== $(find "$DEMO_OUT" -name '*.png' | wc -l) PNG files under $DEMO_OUT/: shard folders 00000/, 00001/, ..., each with"
echo "   NNNNN_stats.json and NNNNN.parquet beside it; manifest.jsonl and manifest.parquet list every image"
[ -n "$KEEP" ] || echo "   (KEEP=1 make run leaves the farm up to browse the job in the dashboard)"
