#!/usr/bin/env bash
# perf.sh — issue #12's side-by-side throughput run on a lent GPU (docs/performance.md): our CUDA backend's
# Sana stages (DiT CFG step of Sana-600M@512² and Sana-1.6B@1024², DC-AE decode, Gemma-2-2B encode; bf16 at
# 1–16 images per batch, f32 at one image as the before-figure) and the same stages in diffusers/transformers
# bf16 with PyTorch's SDPA, in one run on the same card; last lines are scripts/perf/summary.py's ratios.
#
# Builds nothing: run `make gpu-bins` on the build machine and carry bin/gpu (or bin/gpu.tar.xz, unpacked
# here) and .diffusers (the diffusers sources, git-ignored: see scripts/perf/diffusers_bench.py). Logs go to
# $PERF_LOGS (default $OUT/perf, else /tmp/perf); each step has a timeout, and steps past $PERF_DEADLINE
# seconds are skipped so a cut run still prints its summary.
set -uo pipefail
cd "$(dirname "$0")/../.."

BIN=$(realpath -m "${BIN:-bin/gpu}")
LOGS=${PERF_LOGS:-${OUT:+$OUT/perf}}
LOGS=${LOGS:-/tmp/perf}
DEADLINE=${PERF_DEADLINE:-330}
mkdir -p "$LOGS"
start=$SECONDS
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

# pstep NAME TIMEOUT CMD...: runs CMD with a timeout into $LOGS/NAME.log.
pstep() {
	local name=$1 limit=$2
	shift 2
	local left=$((DEADLINE - (SECONDS - start)))
	if ((left < 20)); then
		echo "== perf $name: SKIPPED (past the ${DEADLINE}s budget)"
		return 1
	fi
	((limit > left)) && limit=$left
	local t0=$SECONDS rc=0
	timeout -k 5 "$limit" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
	echo "== perf $name: rc=$rc ($((SECONDS - t0))s)"
	grep -E -- '--- FAIL|panic:|error' "$LOGS/$name.log" | head -5 | sed 's/^/   /'
	return $rc
}

# gobench DIR BINARY PATTERN BENCHTIME (a command, so that timeout can run it): test binaries run in
# their package's folder.
gobench=(bash -c 'cd "$1" && exec "$2" -test.run "^\$" -test.bench "$3" -test.benchtime="$4" -test.timeout=300s' gobench)

pstep step 190 "${gobench[@]}" model/dit "$BIN/dit-cuda.test" 'BenchmarkCUDAStep' 5x
pstep step-nolt 45 env SANAFARM_CUBLASLT=0 "${gobench[@]}" model/dit "$BIN/dit-cuda.test" 'BenchmarkCUDAStep/1600m_1024/bf16/img=(1|4)$' 3x
pstep decode 90 "${gobench[@]}" model/dcae "$BIN/dcae-cuda.test" 'BenchmarkCUDADecode' 3x
pstep encode 60 "${gobench[@]}" model/gemma2 "$BIN/gemma-cuda.test" 'BenchmarkCUDAEncode' 3x
pstep gemm 45 "${gobench[@]}" kernels/cuda "$BIN/cuda.test" 'BenchmarkGEMM' 10x
export PYTHONUNBUFFERED=1
pstep diffusers 180 python3 scripts/perf/diffusers_bench.py --batches "${PERF_BATCHES:-1,2,4,8,16}" --iters 5 --warmup 2

# Where the GPU time goes: per-kernel and per-GEMM event timings of one 1.6B step (2 images) and one
# 1024² decode (cuda.Config.Profile; launches slow down, so these runs are for shares, not for timing).
export SANAFARM_CUDA_PROFILE=1
pstep profile-step 60 "${gobench[@]}" model/dit "$BIN/dit-cuda.test" 'BenchmarkCUDAStep/1600m_1024/bf16/img=2$' 2x
pstep profile-decode 60 "${gobench[@]}" model/dcae "$BIN/dcae-cuda.test" 'BenchmarkCUDADecode/1024/bf16/img=1$' 2x
unset SANAFARM_CUDA_PROFILE
for f in profile-step profile-decode; do
	echo "== $f (top 15)"
	grep -E '^\s+[0-9.]+ ms|GPU time' "$LOGS/$f.log" 2>/dev/null | head -16 | sed 's/^\s*/   prof /'
done

# The same through Nsight Systems, when it works on this host (optional, last).
NSYS=$(command -v nsys || ls /opt/nvidia/nsight-compute/*/host/target-linux-x64/nsys 2>/dev/null | head -1)
if [[ -n ${NSYS:-} && ${PERF_NSYS:-0} == 1 ]]; then
	pstep nsys 60 bash -c "cd model/dit && '$NSYS' profile -o /tmp/sf-step -f true --stats=false \
		'$BIN/dit-cuda.test' -test.run '^\$' -test.bench 'BenchmarkCUDAStep/1600m_1024/bf16/img=2\$' -test.benchtime=3x \
		&& '$NSYS' stats -q --report cuda_gpu_kern_sum --format csv /tmp/sf-step.nsys-rep" || true
fi

echo
grep -hE '^Benchmark' "$LOGS"/{step,decode,encode,gemm}.log 2>/dev/null | sed 's/^/   /'
python3 scripts/perf/summary.py "${gpu:-unknown GPU}" "$LOGS"/{step,step-nolt,decode,encode}.log -- "$LOGS/diffusers.log"
