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

// rowCentered2 returns Σ(x − mean)² / len(x) (two-pass variance, no
// cancellation).
func rowCentered2(x []float32, mean float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1 := float64(x[i])-mean, float64(x[i+1])-mean
		d2, d3 := float64(x[i+2])-mean, float64(x[i+3])-mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - mean
		s0 += d * d
	}
	return (s0 + s1 + s2 + s3) / float64(len(x))
}

// rowMeanSq returns mean(x²) in float64.
func rowMeanSq(x []float32) float64 { return rowCentered2(x, 0) }

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
			mean := rowMean(xr)
			rstd := 1 / math.Sqrt(rowCentered2(xr, mean)+float64(eps))
			m, s := float32(mean), float32(rstd)
			for i, v := range xr {
				or[i] = (v - m) * s
			}
		}
	})
	return nil
}

// LayerNormModulate fuses dst = LayerNorm(x)·(1 + scale) + shift: one read
// of x for the statistics and one read/write for the output.
func (b *Backend) LayerNormModulate(dst, x, shift, scale *kernels.Tensor, eps float32) error {
	_, n, d, err := kernels.CheckLayerNormModulate(dst, x, shift, scale)
	if err != nil {
		return err
	}
	if err := host("layernorm modulate", dst, x, shift, scale); err != nil {
		return err
	}
	o, xs, sh, sc := dst.F32(), x.F32(), shift.F32(), scale.F32()
	rows := x.Len() / max(d, 1)
	b.parallelFor(rows, normGrain(d), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			bi := r / n
			xr, or := xs[r*d:(r+1)*d], o[r*d:(r+1)*d]
			shr, scr := sh[bi*d:(bi+1)*d], sc[bi*d:(bi+1)*d]
			mean := rowMean(xr)
			rstd := 1 / math.Sqrt(rowCentered2(xr, mean)+float64(eps))
			m, s := float32(mean), float32(rstd)
			for i, v := range xr {
				or[i] = (v-m)*s*(1+scr[i]) + shr[i]
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
			s := float32(1 / math.Sqrt(rowMeanSq(xr)+float64(p.Eps)))
			rmsRow(or, xr, s, ws, bs)
		}
	})
	return nil
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
