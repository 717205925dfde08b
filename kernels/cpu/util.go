package cpu

import (
	"fmt"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// serial returns a single-threaded backend with the same SIMD choice, for
// GEMMs issued from inside a parallelFor worker (avoids oversubscribing
// the cores with nested goroutine fan-out).
func (b *Backend) serial() *Backend {
	if b.threads == 1 {
		return b
	}
	return New(Config{Threads: 1, NoSIMD: !b.simd, Precision: b.prec})
}

// floatsOf returns the values of a host float tensor as float32: the
// tensor's own storage for Float32, a fresh widened copy for 16-bit
// dtypes (weights and biases are small next to the activations), and nil
// for a nil tensor.
func floatsOf(t *kernels.Tensor) []float32 {
	if t == nil {
		return nil
	}
	if t.DType() == kernels.Float32 {
		return t.F32()
	}
	src := t.U16()
	out := make([]float32, len(src))
	halfSliceToF32(out, t.DType(), src)
	return out
}

// halfSliceToF32 converts 16-bit floats of dtype dt into dst.
func halfSliceToF32(dst []float32, dt kernels.DType, src []uint16) {
	dst = dst[:len(src)]
	if dt == kernels.BFloat16 {
		for i, h := range src {
			dst[i] = math.Float32frombits(uint32(h) << 16)
		}
		return
	}
	for i, h := range src {
		dst[i] = kernels.F16ToF32(h)
	}
}

// weightB describes an [N, K] float weight as the transposed GEMM operand.
func weightB(w *kernels.Tensor, k int) matB {
	return matB{f32: w.F32(), u16: w.U16(), dt: w.DType(), ld: k, trans: true}
}

// fillRows writes vec into each of the rows consecutive rows of c (row
// stride ldc), e.g. to prefill a GEMM output with its bias.
func fillRows(c []float32, rows, ldc int, vec []float32) {
	for i := range rows {
		copy(c[i*ldc:i*ldc+len(vec)], vec)
	}
}

// host validates host residency for the CPU backend.
func host(op string, ts ...*kernels.Tensor) error { return kernels.RequireHost(op, ts...) }

// errorf formats an op error in the package's "kernels: op: ..." style.
func errorf(format string, args ...any) error {
	return fmt.Errorf("kernels: "+format, args...)
}
