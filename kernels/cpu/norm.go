package cpu

import (
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Row statistics accumulate in float64 with four independent partial sums:
// exact enough for D up to many thousands and still pipelined.

// rowMean returns the mean of x in float64.
func rowMean(x []float32) float64 { return rowSum(x) / float64(len(x)) }

// rowSum returns Σx in float64.
func rowSum(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1 + s2 + s3)
}

// rowStats returns the mean and variance (biased) of x in one pass: sums
// of x − x[0] and its square in float64 (exact terms, so only the sums
// round). The shift keeps E[d²] − E[d]² free of cancellation unless x[0]
// is an extreme outlier, and even then the loss is bounded by len(x)²·2⁻⁵³.
func rowStats(x []float32, simd bool) (mean, variance float64) {
	if len(x) == 0 {
		return 0, 0
	}
	shift := x[0]
	var i int
	var s1, s2 float64
	if simd {
		i, s1, s2 = statsSIMD(x, shift)
	}
	t1, t2 := shiftedSums(x[i:], shift)
	n := float64(len(x))
	d := (s1 + t1) / n
	return float64(shift) + d, max((s2+t2)/n-d*d, 0)
}

// rowMeanSq returns mean(x²) in float64.
func rowMeanSq(x []float32, simd bool) float64 {
	var i int
	var s2 float64
	if simd {
		i, _, s2 = statsSIMD(x, 0)
	}
	_, t2 := shiftedSums(x[i:], 0)
	return (s2 + t2) / float64(max(len(x), 1))
}

// shiftedSums returns Σ(x − shift) and Σ(x − shift)² in float64 with four
// partial sums each.
func shiftedSums(x []float32, shift float32) (s1, s2 float64) {
	var a0, a1, a2, a3, q0, q1, q2, q3 float64
	sh := float64(shift)
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1 := float64(x[i])-sh, float64(x[i+1])-sh
		d2, d3 := float64(x[i+2])-sh, float64(x[i+3])-sh
		a0, a1, a2, a3 = a0+d0, a1+d1, a2+d2, a3+d3
		q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - sh
		a0 += d
		q0 += d * d
	}
	return a0 + a1 + a2 + a3, q0 + q1 + q2 + q3
}

// normGrain is the number of rows per goroutine chunk for a row length d.
func normGrain(d int) int { return max(1, 8192/max(d, 1)) }

// LayerNorm computes dst = (x − mean)/√(var + eps) over the last axis.
func (b *Backend) LayerNorm(dst, x *kernels.Tensor, eps float32) error {
	rows, d, err := kernels.CheckLayerNorm(dst, x)
	if err != nil {
		return err
	}
	if err := host("layernorm", dst, x); err != nil {
		return err
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(rows, normGrain(d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, or := xs[r*d:(r+1)*d], o[r*d:(r+1)*d]
			mean, v := rowStats(xr, b.simd)
			m, s := float32(mean), float32(1/math.Sqrt(v+float64(eps)))
			i := 0
			if b.simd {
				i = lnRowSIMD(or, xr, m, s)
			}
			for ; i < d; i++ {
				or[i] = (xr[i] - m) * s
			}
		}
	})
	return nil
}

// LayerNormModulate fuses dst = LayerNorm(x)·(1 + scale) + shift: one read
// of x for the statistics and one read/write for the output. y + y·scale
// avoids rounding 1 + scale.
func (b *Backend) LayerNormModulate(dst, x, shift, scale *kernels.Tensor, eps float32) error {
	_, n, d, err := kernels.CheckLayerNormModulate(dst, x, shift, scale)
	if err != nil {
		return err
	}
	if err := host("layernorm modulate", dst, x, shift, scale); err != nil {
		return err
	}
	o, xs, sh, sc := dst.F32(), x.F32(), shift.F32(), scale.F32()
	if dst.DType() == kernels.BFloat16 { // float32 result, rounded once below
		o = make([]float32, x.Len())
		defer b.narrowBF16(dst.U16(), o)
	}
	rows := x.Len() / max(d, 1)
	b.parallelFor(rows, normGrain(d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			bi := r / n
			xr, or := xs[r*d:(r+1)*d], o[r*d:(r+1)*d]
			shr, scr := sh[bi*d:(bi+1)*d], sc[bi*d:(bi+1)*d]
			mean, v := rowStats(xr, b.simd)
			m, s := float32(mean), float32(1/math.Sqrt(v+float64(eps)))
			i := 0
			if b.simd {
				i = lnModRowSIMD(or, xr, scr, shr, m, s)
			}
			for ; i < d; i++ {
				y := (xr[i] - m) * s
				or[i] = y + y*scr[i] + shr[i]
			}
		}
	})
	return nil
}

// RMSNorm computes dst = x/√(mean(x²) + eps)·w (+ b), with (1 + w) when
// p.AddOne. 16-bit w and b are widened once per call.
func (b *Backend) RMSNorm(dst, x, w, bias *kernels.Tensor, p kernels.NormParams) error {
	rows, d, err := kernels.CheckRMSNorm(dst, x, w, bias)
	if err != nil {
		return err
	}
	if err := host("rmsnorm", dst, x, w, bias); err != nil {
		return err
	}
	ws, bs := floatsOf(w), floatsOf(bias)
	if ws != nil && p.AddOne {
		gain := make([]float32, d)
		for i, v := range ws {
			gain[i] = 1 + v
		}
		ws = gain
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(rows, normGrain(d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, or := xs[r*d:(r+1)*d], o[r*d:(r+1)*d]
			s := float32(1 / math.Sqrt(rowMeanSq(xr, b.simd)+float64(p.Eps)))
			i := 0
			if b.simd {
				i = rmsRowSIMD(or, xr, s, ws, bs)
			}
			rmsRow(or[i:], xr[i:], s, tail(ws, i), tail(bs, i))
		}
	})
	return nil
}

// tail returns w[i:], or nil for nil w.
func tail(w []float32, i int) []float32 {
	if w == nil {
		return nil
	}
	return w[i:]
}

// rmsRowSIMD writes the multiple-of-8 prefix of o = x·s·w with the vector
// kernels (w optional) and returns its length; with a bias it leaves all
// to rmsRow.
func rmsRowSIMD(o, x []float32, s float32, w, b []float32) int {
	switch {
	case b != nil:
		return 0
	case w != nil:
		return rmsMulSIMD(o, x, w, s)
	default:
		return scaleSIMD(o, x, s)
	}
}

// rmsRow writes o = x·s·w + b, with w and b optional.
func rmsRow(o, x []float32, s float32, w, b []float32) {
	o = o[:len(x)]
	switch {
	case w != nil && b != nil:
		w, b = w[:len(x)], b[:len(x)]
		for i, v := range x {
			o[i] = v*s*w[i] + b[i]
		}
	case w != nil:
		w = w[:len(x)]
		for i, v := range x {
			o[i] = v * s * w[i]
		}
	case b != nil:
		b = b[:len(x)]
		for i, v := range x {
			o[i] = v*s + b[i]
		}
	default:
		for i, v := range x {
			o[i] = v * s
		}
	}
}
