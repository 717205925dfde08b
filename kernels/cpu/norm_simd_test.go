package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowStats checks the one-pass shifted statistics (portable and
// vector) against a two-pass float64 reference, including rows whose mean
// dwarfs their spread and rows whose first element is an outlier.
func TestRowStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, d := range []int{1, 7, 8, 9, 17, 1152, 4099} {
		for _, offset := range []float64{0, 1000} {
			for _, outlier := range []bool{false, true} {
				x := make([]float32, d)
				for i := range x {
					x[i] = float32(offset + rng.NormFloat64())
				}
				if outlier {
					x[0] = 1e6
				}
				var mean, v float64
				for _, e := range x {
					mean += float64(e)
				}
				mean /= float64(d)
				for _, e := range x {
					v += (float64(e) - mean) * (float64(e) - mean)
				}
				v /= float64(d)
				for _, simd := range []bool{false, hasAVX2FMA()} {
					m, gv := rowStats(x, simd)
					if math.Abs(m-mean) > 1e-10*(math.Abs(mean)+math.Sqrt(v)) || math.Abs(gv-v) > 1e-9*v+1e-12 {
						t.Errorf("d=%d offset=%v outlier=%v simd=%v: mean %v var %v, want %v %v",
							d, offset, outlier, simd, m, gv, mean, v)
					}
					var sq float64
					for _, e := range x {
						sq += float64(e) * float64(e)
					}
					if got := rowMeanSq(x, simd); math.Abs(got-sq/float64(d)) > 1e-12*sq/float64(d) {
						t.Errorf("d=%d simd=%v: mean square %v, want %v", d, simd, got, sq/float64(d))
					}
				}
			}
		}
	}
}
