package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// gemmBenchShapes are the Sana linear layers (M tokens, K in, N out) that
// dominate a denoising step, plus a square reference shape.
var gemmBenchShapes = [][3]int{ // M, K, N
	{1024, 1152, 1152},
	{1024, 1152, 2880},
	{1024, 2880, 1152},
	{256, 1152, 1152},
	{256, 1152, 2880},
	{256, 2880, 1152},
	{512, 512, 512},
}

// BenchmarkGEMM measures C = A·Wᵀ with W in PyTorch [N, K] layout, the
// hot case of MatMul, single-threaded unless -cpu says otherwise, for
// float32 and bfloat16 weights. It reports GFLOP/s (2·M·N·K per op).
func BenchmarkGEMM(b *testing.B) {
	for _, dt := range []kernels.DType{kernels.Float32, kernels.BFloat16} {
		for _, s := range gemmBenchShapes {
			m, k, n := s[0], s[1], s[2]
			b.Run(fmt.Sprintf("%v/M%d_K%d_N%d", dt, m, k, n), func(b *testing.B) {
				benchGemm(b, m, k, n, dt)
			})
		}
	}
}

func benchGemm(b *testing.B, m, k, n int, dt kernels.DType) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := randSlice(rng, m*k)
	w := randSlice(rng, n*k)
	bm := matB{f32: w, dt: kernels.Float32, ld: k, trans: true}
	if dt != kernels.Float32 {
		bm = matB{u16: make([]uint16, len(w)), dt: dt, ld: k, trans: true}
		for i, v := range w {
			bm.u16[i] = kernels.F32ToHalf(dt, v)
		}
	}
	c := make([]float32, m*n)
	be := New(Config{Threads: 1})
	b.ResetTimer()
	for b.Loop() {
		be.gemm(m, n, k, a, k, bm, c, n, false)
	}
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
