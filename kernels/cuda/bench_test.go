//go:build cuda

package cuda

import (
	"fmt"
	"sync"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// GEMM throughput, reported as TFLOP/s (2·M·N·K per product). scripts/
// gpu-check.sh prints these next to the device's spec peaks.
//
//	f32         MatMul, f32 weights: SGEMM without TF32 (the default, exact path)
//	bf16w       MatMul, bf16 weights, default path: widen + SGEMM
//	bf16w-fast  MatMul, bf16 weights, FastMath: a→bf16, tensor-core GEMM
//	cublas-bf16 raw cuBLAS bf16·bf16→f32 GemmEx (the tensor-core ceiling)

var (
	fastOnce sync.Once
	fastBe   *Backend
	fastErr  error
)

func fastBackend(b *testing.B) *Backend {
	fastOnce.Do(func() { fastBe, fastErr = New(Config{FastMath: true}) })
	if fastErr != nil {
		b.Skipf("no usable CUDA device: %v", fastErr)
	}
	return fastBe
}

// gemmShapes: a square reference and Sana-1.6B linears at 1024² (batch 2 ×
// 1024 tokens, hidden 2240, Mix-FFN 2240→11200 and 5600→2240).
var gemmShapes = []struct{ m, n, k int }{
	{4096, 4096, 4096}, {2048, 2240, 2240}, {2048, 11200, 2240}, {2048, 2240, 5600},
}

func BenchmarkGEMM(b *testing.B) {
	for _, s := range gemmShapes {
		shape := fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k)
		b.Run("f32/"+shape, func(b *testing.B) { benchMatMul(b, testBackend(b), s.m, s.n, s.k, kernels.Float32) })
		b.Run("bf16w/"+shape, func(b *testing.B) { benchMatMul(b, testBackend(b), s.m, s.n, s.k, kernels.BFloat16) })
		b.Run("bf16w-fast/"+shape, func(b *testing.B) { benchMatMul(b, fastBackend(b), s.m, s.n, s.k, kernels.BFloat16) })
		b.Run("cublas-bf16/"+shape, func(b *testing.B) { benchRawBF16(b, testBackend(b), s.m, s.n, s.k) })
	}
}

func mustAlloc(b *testing.B, be *Backend, dt kernels.DType, shape ...int) *kernels.Tensor {
	b.Helper()
	t, err := be.Alloc(dt, shape...)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// fillRandom uploads small pseudo-random values (GEMM speed does not
// depend on them, but zeros could take shortcuts in some libraries).
func fillRandom(b *testing.B, be *Backend, t *kernels.Tensor) {
	b.Helper()
	h := kernels.MustNew(kernels.Float32, t.Shape()...)
	for i := range h.F32() {
		h.F32()[i] = float32((i*7919)%1000)/1000 - 0.5
	}
	if err := be.Copy(t, h); err != nil {
		b.Fatal(err)
	}
}

func reportTFLOPs(b *testing.B, m, n, k int) {
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e12, "TFLOP/s")
}

func benchMatMul(b *testing.B, be *Backend, m, n, k int, wdt kernels.DType) {
	a, w, dst := mustAlloc(b, be, kernels.Float32, m, k), mustAlloc(b, be, wdt, n, k), mustAlloc(b, be, kernels.Float32, m, n)
	fillRandom(b, be, a)
	fillRandom(b, be, w)
	if err := be.MatMul(dst, a, w, nil); err != nil { // warm-up: cuBLAS load, heuristics
		b.Fatal(err)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := be.MatMul(dst, a, w, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	reportTFLOPs(b, m, n, k)
}

func benchRawBF16(b *testing.B, be *Backend, m, n, k int) {
	a, w, dst := mustAlloc(b, be, kernels.BFloat16, m, k), mustAlloc(b, be, kernels.BFloat16, n, k), mustAlloc(b, be, kernels.Float32, m, n)
	fillRandom(b, be, a)
	fillRandom(b, be, w)
	blas, err := be.blasHandle()
	if err != nil {
		b.Fatal(err)
	}
	run := func() error {
		return be.with(func() error {
			dp, ap, wp, err := be.ptrs3(dst, a, w)
			if err != nil {
				return err
			}
			return blas.gemm(gemmArgs{transA: true, m: n, n: m, k: k, a: uintptr(wp), lda: k, b: uintptr(ap), ldb: k,
				c: uintptr(dp), ldc: n, at: cudaR16BF, bt: cudaR16BF, ct: cudaR32F, alpha: 1})
		})
	}
	if err := run(); err != nil {
		b.Fatal(err)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := run(); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	reportTFLOPs(b, m, n, k)
}

// BenchmarkLaunch measures the host cost of one small kernel launch
// (enter, lookup, marshal, cuLaunchKernel).
func BenchmarkLaunch(b *testing.B) {
	be := testBackend(b)
	x := mustAlloc(b, be, kernels.Float32, 256)
	bias := mustAlloc(b, be, kernels.Float32, 256)
	b.ResetTimer()
	for range b.N {
		if err := be.launch("add_bias_rows", [3]uint32{1, 1, 1}, [3]uint32{256, 1, 1}, 0, x, bias, int64(256), int64(256)); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
}
