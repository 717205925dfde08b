package cpu

import (
	"math"
	"testing"
)

func needSIMD(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("no AVX2+FMA vector kernels here")
	}
}

// TestExpSIMDAccuracy runs the dense exp sweep through the vector kernel
// (as e^(x−0) of expSubSumAVX) and checks its float64 sum.
func TestExpSIMDAccuracy(t *testing.T) {
	needSIMD(t)
	xs := expSweep(-104, 88.72, 61)
	got := make([]float32, len(xs))
	n, sum := expSubSumSIMD(got, xs, 0)
	sum += expSubSumGo(got, xs, n, 0)
	rel, sub, wx := relErrStats(xs, got, math.Exp)
	t.Logf("exp AVX2: %d inputs, max rel err %.3g at x=%v, subnormal max err %.2g (units of 2⁻¹⁴⁹)", len(xs), rel, wx, sub)
	if rel > 2.5e-7 || sub > 1 {
		t.Errorf("exp AVX2: max rel err %.3g, subnormal err %.3g", rel, sub)
	}
	var want float64
	for _, v := range got {
		want += float64(v)
	}
	if math.Abs(sum/want-1) > 1e-12 {
		t.Errorf("exp AVX2 sum %v, want %v", sum, want)
	}
}

// simdSpecials are inputs at and beyond the clamps, NaN and signed zeros,
// in a length whose tail the Go loops finish.
func simdSpecials() []float32 {
	inf := float32(math.Inf(1))
	return []float32{0, float32(math.Copysign(0, -1)), 1e-3, -1e-3, 20, -20, 50, -50,
		88.72, 88.8, 89, 90, -90, -87.4, -103, -104, -105, inf, -inf, float32(math.NaN()),
		1e20, -1e20, 3, -3, 0.5}
}

// sameFloat reports whether a and b agree to rel (or are both NaN).
func sameFloat(a, b float32, rel float64) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	if a == b {
		return true
	}
	return math.Abs(float64(a)-float64(b)) <= rel*math.Abs(float64(b))
}

func TestMaxSIMD(t *testing.T) {
	needSIMD(t)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for n := 8; n <= 40; n += 8 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(-i)
		}
		for p := range n {
			x[p] = 5
			if _, m := maxSIMD(x); m != 5 {
				t.Errorf("n=%d max at %d: got %v", n, p, m)
			}
			x[p] = nan
			if _, m := maxSIMD(x); m == m {
				t.Errorf("n=%d NaN at %d: got %v", n, p, m)
			}
			x[p] = float32(-p)
		}
		for i := range x {
			x[i] = -inf
		}
		if _, m := maxSIMD(x); m != -inf {
			t.Errorf("n=%d all −Inf: got %v", n, m)
		}
	}
}

// TestSoftmaxRowPaths checks the vector and portable softmax rows agree,
// including NaN and fully masked rows.
func TestSoftmaxRowPaths(t *testing.T) {
	needSIMD(t)
	inf := float32(math.Inf(1))
	for _, n := range []int{1, 7, 8, 9, 33, 300} {
		for _, special := range []float32{0, -inf, inf, float32(math.NaN())} {
			a := make([]float32, n)
			for i := range a {
				a[i] = float32(math.Sin(float64(i)*1.7)) * 30
			}
			a[n/2] = special
			if special == -inf && n == 1 {
				a[0] = -inf
			}
			b := append([]float32(nil), a...)
			softmaxRow(a, true)
			softmaxRow(b, false)
			for i := range a {
				if !sameFloat(a[i], b[i], 1e-6) {
					t.Errorf("n=%d special=%v: [%d] SIMD %v, Go %v", n, special, i, a[i], b[i])
				}
			}
		}
	}
}
