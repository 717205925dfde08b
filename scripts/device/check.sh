#!/usr/bin/env bash
# GPU-machine check: runs on the lent GPU host, which has no Go toolchain and
# no network. Build the binaries here first with `make device-bins` (they go
# to bin/device/, carried along), then run this script there from the repo
# root. It records machine facts for the CUDA work, re-runs the CPU
# conformance suite and golden cases on that host's CPU, and measures CPU
# thread scaling on a quiet many-core machine. Output goes to $OUT (or
# /tmp/device-out) and stdout. Extend it as GPU code lands: every GPU
# measurement is precious.
set -u
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/device-check.log") 2>&1
B=$PWD/bin/device
section() { echo; echo "== $* ($(date +%T))"; }

section machine
uname -a; nproc; free -g | head -2
lscpu | grep -E 'Model name|Socket|Core|Thread|L2|L3|Flags' | sed 's/Flags:.*/Flags: (avx512: '"$(grep -c avx512f /proc/cpuinfo)"' cpus)/'
section gpu
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm,power.limit --format=csv || true
nvidia-smi | head -15 || true
section cuda libraries
ldconfig -p | grep -E 'libcuda\.|cublas|cudart|nvrtc' || true
find / -xdev \( -name 'libcublas.so*' -o -name 'libcublasLt.so*' -o -name 'libnvrtc.so*' -o -name 'libcudart.so*' \) 2>/dev/null | head -20
section python
command -v python3 && timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.version.cuda)' 2>&1 | tail -1

section conformance on this host
(cd kernels/cpu && timeout 300 "$B/cpu.test" -test.run 'TestConformance|TestGemm' -test.count=1 2>&1 | tail -3)
section golden cases
timeout 120 "$B/sanafarm" golden testdata/golden/* || true
section gemm thread scaling
(cd kernels/cpu && timeout 120 "$B/cpu.test" -test.run '^$' -test.bench 'GEMMThreads' -test.benchtime 5x)
section gemm sana shapes, 1 thread
(cd kernels/cpu && timeout 120 "$B/cpu.test" -test.run '^$' -test.bench 'BenchmarkGEMM$' -test.benchtime 3x)
section dit block per thread count
(cd model/dit && timeout 240 "$B/dit.test" -test.run '^$' -test.bench 'Block600M' -test.benchtime 3x)
section done
