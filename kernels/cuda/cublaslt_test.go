//go:build cuda

package cuda

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// TestCublasLtBiasEpilogue: in bf16 mode a MatMul with a bias runs as one
// cuBLASLt GEMM with the bias epilogue, and gives what GemmEx plus the
// separate bias pass gives (SANAFARM_CUBLASLT=0), to float32 rounding of
// the accumulation order.
func TestCublasLtBiasEpilogue(t *testing.T) {
	lt := bf16Backend(t)
	blas, err := lt.blasHandle() // loads cuBLAS(Lt) before the variable below turns it off
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SANAFARM_CUBLASLT", "0")
	plain, err := New(Config{Precision: kernels.PrecisionBF16})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, s := range [][3]int{{2048, 2240, 2240}, {7, 33, 64}, {300, 1152, 2304}} {
		m, n, k := s[0], s[1], s[2]
		ah, wh, bh := hostRand(1, m, k), hostRand(2, n, k), hostRand(3, n)
		w16, err := wh.ToHalf(kernels.BFloat16)
		if err != nil {
			t.Fatal(err)
		}
		var outs [2][]float32
		for i, be := range []*Backend{lt, plain} {
			a, w, b := devOf(t, be, ah), devOf(t, be, w16), devOf(t, be, bh)
			d, err := be.Alloc(kernels.Float32, m, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := be.MatMul(d, a, w, b); err != nil {
				t.Fatalf("%v: %v", s, err)
			}
			outs[i] = download(t, be, d)
		}
		worst := 0.0
		for i := range outs[0] {
			worst = max(worst, math.Abs(float64(outs[0][i]-outs[1][i])))
		}
		t.Logf("%v: max |lt − gemmex+bias| = %.3g", s, worst)
		if worst > 1e-3*math.Sqrt(float64(k)) {
			t.Errorf("%v: epilogue differs from the separate bias by %g", s, worst)
		}
	}
	if blas.lt == nil {
		t.Skip("cuBLASLt unavailable on this host (the fallback ran both times)")
	}
	used := 0
	for _, p := range blas.lt.plans {
		if p.ok {
			used++
		}
	}
	if used == 0 || blas.lt.off {
		t.Errorf("cuBLASLt ran no GEMM (%d plans, off %v)", len(blas.lt.plans), blas.lt.off)
	}
}
