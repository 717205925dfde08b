package cpu

import "github.com/sanafarm/sanafarm/kernels"

// bf16 mode (kernels.PrecisionBF16, kernels/precision.go) makes the CPU
// backend the reference for what the GPUs compute on tensor cores: a
// product with a 16-bit weight first rounds its float32 activation
// operand to the weight's dtype (round-to-nearest-even), then multiplies
// the exact 16-bit values and accumulates in float32. Rounding a copy
// (never the caller's tensor) and reusing the float32 GEMM gives exactly
// that, since a product of two 16-bit floats is exact in float32.

// roundsWith reports whether operands multiplied with a weight of dtype
// wd are rounded to wd.
func (b *Backend) roundsWith(wd kernels.DType) bool {
	return b.prec == kernels.PrecisionBF16 && wd.IsHalf()
}

// roundOperand returns x itself, or in bf16 mode with a 16-bit weight
// dtype wd a fresh copy of x rounded to wd.
func (b *Backend) roundOperand(x []float32, wd kernels.DType) []float32 {
	if !b.roundsWith(wd) {
		return x
	}
	out := make([]float32, len(x))
	b.parallelFor(len(x), 1<<14, func(lo, hi int) {
		copy(out[lo:hi], x[lo:hi])
		roundHalfInPlace(out[lo:hi], wd)
	})
	return out
}

// roundHalfInPlace rounds every element of v to the 16-bit dtype dt and
// back (exactly representable in float32).
func roundHalfInPlace(v []float32, dt kernels.DType) {
	if dt == kernels.BFloat16 {
		for i, f := range v {
			v[i] = kernels.BF16ToF32(kernels.F32ToBF16(f))
		}
		return
	}
	for i, f := range v {
		v[i] = kernels.F16ToF32(kernels.F32ToF16(f))
	}
}
