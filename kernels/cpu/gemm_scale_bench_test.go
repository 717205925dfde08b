package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// BenchmarkGEMMThreads measures thread scaling at the Sana-600M 1024px
// FFN-expand shape (M=1024, K=1152, N=2880) for 1, 2, 4, ... threads up to
// the machine's CPU count; compare the GFLOP/s of threads=1 and threads=2
// (issue goal: ≥ 1.7× on a quiet machine).
func BenchmarkGEMMThreads(b *testing.B) {
	m, k, n := 1024, 1152, 2880
	rng := rand.New(rand.NewPCG(1, 1))
	a, w := randSlice(rng, m*k), randSlice(rng, n*k)
	bm := matB{f32: w, dt: kernels.Float32, ld: k, trans: true}
	c := make([]float32, m*n)
	for t := 1; t <= runtime.NumCPU(); t *= 2 {
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) {
			be := New(Config{Threads: t})
			for b.Loop() {
				be.gemm(m, n, k, a, k, bm, c, n, false)
			}
			flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
