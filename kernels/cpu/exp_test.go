package cpu

import (
	"math"
	"testing"
)

// expSweep returns float32 inputs covering [lo, hi] densely: every
// stride-th bit pattern of both signs plus the interval ends.
func expSweep(lo, hi float32, stride uint32) []float32 {
	var xs []float32
	for b := uint32(0); b < 0x7f800000; b += stride {
		for _, x := range []float32{math.Float32frombits(b), -math.Float32frombits(b)} {
			if x >= lo && x <= hi {
				xs = append(xs, x)
			}
		}
	}
	return append(xs, lo, hi)
}

// relErrStats returns the worst relative error of got against want over
// results in float32's normal range, and the worst absolute error in units
// of the smallest subnormal below it.
func relErrStats(xs, got []float32, want func(float64) float64) (rel, sub float64, worstX float32) {
	for i, x := range xs {
		w := want(float64(x))
		d := math.Abs(float64(got[i]) - w)
		if math.Abs(w) < 0x1p-126 {
			sub = max(sub, d/0x1p-149)
			continue
		}
		if r := d / math.Abs(w); r > rel {
			rel, worstX = r, x
		}
	}
	return rel, sub, worstX
}

// TestExpfAccuracy sweeps expf against math.Exp over its whole finite
// range: ≲ 2 ulp (ulp/2 of float32 is 6e-8 relative) for normal results.
func TestExpfAccuracy(t *testing.T) {
	xs := expSweep(-104, 88.72, 61)
	got := make([]float32, len(xs))
	for i, x := range xs {
		got[i] = expf(x)
	}
	rel, sub, wx := relErrStats(xs, got, math.Exp)
	t.Logf("expf: %d inputs, max rel err %.3g at x=%v, subnormal max err %.2g (units of 2⁻¹⁴⁹)", len(xs), rel, wx, sub)
	if rel > 2.5e-7 || sub > 1 {
		t.Errorf("expf: max rel err %.3g, subnormal err %.3g", rel, sub)
	}
}

func TestExpfSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {float32(math.Copysign(0, -1)), 1}, {89, inf}, {88.8, inf}, {1000, inf}, {inf, inf},
		{-104, 0}, {-200, 0}, {-inf, 0}, {-103, float32(math.Exp(-103))},
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := expf(float32(math.NaN())); got == got {
		t.Errorf("expf(NaN) = %v", got)
	}
	// The largest float32 below ln(MaxFloat32) must stay finite-ish: e^x
	// is within an ulp of MaxFloat32.
	if x := float32(88.72283); math.Abs(float64(expf(x))/math.Exp(float64(x))-1) > 3e-7 {
		t.Errorf("expf(%v) = %v", x, expf(x))
	}
}

// actCase is an activation's portable and vector slice forms with its
// float64 reference and the error bound for TestActAccuracy.
type actCase struct {
	name string
	goFn func(dst, src []float32, i int)
	simd func(dst, src []float32) int
	ref  func(float64) float64
	tol  float64
}

var actCases = []actCase{
	{"silu", siluGo, siluSIMD, func(x float64) float64 { return x / (1 + math.Exp(-x)) }, 4e-7},
	// GELU's exp argument z = −2u carries |z|·ulp of rounding, which the
	// result inherits relative to its (then tiny) size.
	{"gelu", geluGo, geluSIMD, func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}, 2e-6},
}

// TestActAccuracy checks SiLU and GELU (portable, and vector where
// available) against float64 references on a dense sweep, relative to
// max(|ref|, 1e-6) as the conformance suite's absolute floor allows.
func TestActAccuracy(t *testing.T) {
	xs := append(expSweep(-120, 120, 301), simdSpecials()...)
	got := make([]float32, len(xs))
	for _, c := range actCases {
		for _, simd := range []bool{false, true} {
			if simd && !hasAVX2FMA() {
				continue
			}
			i := 0
			if simd {
				i = c.simd(got, xs)
			}
			c.goFn(got, xs, i)
			worst, wx := 0.0, float32(0)
			for j, x := range xs {
				w := c.ref(float64(x))
				e := math.Abs(float64(got[j])-w) / max(math.Abs(w), 1e-6)
				if w != w || math.IsInf(w, 0) {
					if float64(got[j]) != w && (w == w || got[j] == got[j]) {
						t.Errorf("%s simd=%v (%v) = %v, want %v", c.name, simd, x, got[j], w)
					}
					continue
				}
				if e > worst || e != e {
					worst, wx = e, x
				}
			}
			t.Logf("%s simd=%v: max err %.3g at x=%v", c.name, simd, worst, wx)
			if !(worst <= c.tol) {
				t.Errorf("%s simd=%v: max err %.3g at x=%v > %g", c.name, simd, worst, wx, c.tol)
			}
		}
	}
}
