package cpu

import (
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Softmax normalizes the last axis of x with an optional additive mask
// (broadcast from a suffix shape) and optional soft-capping.
func (b *Backend) Softmax(dst, x, mask *kernels.Tensor, softCap float32) error {
	rows, t, maskRows, err := kernels.CheckSoftmax(dst, x, mask)
	if err != nil {
		return err
	}
	if err := host("softmax", dst, x, mask); err != nil {
		return err
	}
	o, xs := dst.F32(), x.F32()
	var ms []float32
	if mask != nil {
		ms = mask.F32()
	}
	b.parallelFor(rows, normGrain(t), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			or := o[r*t : (r+1)*t]
			copy(or, xs[r*t:(r+1)*t])
			var mr []float32
			if maskRows > 0 {
				mi := r % maskRows
				mr = ms[mi*t : (mi+1)*t]
			}
			capMaskRow(or, softCap, mr)
			softmaxRow(or, b.simd)
		}
	})
	return nil
}

// tanh64 is tanh via one exp, exact enough in float64 for float32 results
// and cheaper than math.Tanh. Soft-capping is rare, so it stays float64.
func tanh64(x float64) float64 {
	if x > 20 {
		return 1
	}
	if x < -20 {
		return -1
	}
	if math.Abs(x) < 1e-4 { // avoid cancellation; tanh x ≈ x − x³/3
		return x - x*x*x/3
	}
	return 1 - 2/(math.Exp(2*x)+1)
}

// capMaskRow applies soft-capping (softCap > 0) and then the additive
// mask (non-nil) to s in place.
func capMaskRow(s []float32, softCap float32, mask []float32) {
	if softCap > 0 {
		c := float64(softCap)
		for i, v := range s {
			s[i] = float32(c * tanh64(float64(v)/c))
		}
	}
	if mask != nil {
		mask = mask[:len(s)]
		for i := range s {
			s[i] += mask[i]
		}
	}
}

// softmaxRow normalizes s in place, with the vector kernels when simd. A
// row whose entries are all −Inf (fully masked) becomes all zeros instead
// of NaN, so masked-out queries contribute nothing downstream. A NaN
// anywhere makes the whole row NaN.
func softmaxRow(s []float32, simd bool) {
	m, i := float32(math.Inf(-1)), 0
	if simd {
		i, m = maxSIMD(s)
		if i == 0 {
			m = float32(math.Inf(-1))
		}
	}
	for _, v := range s[i:] {
		if v > m || v != v {
			m = v
		}
	}
	if math.IsInf(float64(m), -1) {
		clear(s)
		return
	}
	var sum float64
	i = 0
	if simd {
		i, sum = expSubSumSIMD(s, s, m)
	}
	inv := float32(1 / (sum + expSubSumGo(s, s, i, m)))
	i = 0
	if simd {
		i = scaleSIMD(s, s, inv)
	}
	for ; i < len(s); i++ {
		s[i] *= inv
	}
}

// Reduce reduces the last axis (sum and mean accumulate in float64).
func (b *Backend) Reduce(dst, x *kernels.Tensor, op kernels.ReduceOp) error {
	rows, t, err := kernels.CheckReduce(dst, x, op)
	if err != nil {
		return err
	}
	if err := host("reduce", dst, x); err != nil {
		return err
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(rows, normGrain(t), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := xs[r*t : (r+1)*t]
			switch op {
			case kernels.ReduceSum:
				o[r] = float32(rowSum(xr))
			case kernels.ReduceMean:
				o[r] = float32(rowMean(xr))
			case kernels.ReduceMax:
				m := xr[0]
				for _, v := range xr[1:] {
					if v > m || v != v {
						m = v
					}
				}
				o[r] = m
			}
		}
	})
	return nil
}
