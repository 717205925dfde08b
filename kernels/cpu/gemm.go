package cpu

import "github.com/sanafarm/sanafarm/kernels"

// matB is the right-hand GEMM operand: Float32 or 16-bit float storage,
// row-major with leading dimension ld. When trans, element (p, j) of the
// logical K×N operand is at j*ld + p (PyTorch [N, K] weight layout);
// otherwise at p*ld + j.
type matB struct {
	f32   []float32
	u16   []uint16
	dt    kernels.DType
	ld    int
	trans bool
}

func (m matB) at(p, j int) float32 {
	i := p*m.ld + j
	if m.trans {
		i = j*m.ld + p
	}
	if m.f32 != nil {
		return m.f32[i]
	}
	return kernels.HalfToF32(m.dt, m.u16[i])
}

// gemm computes C[m×n] = A[m×k]·B[k×n] (+ C when accumulate), A row-major
// with leading dimension lda, C with ldc. Placeholder reference loop; the
// packed, blocked version replaces it.
func (b *Backend) gemm(m, n, k int, a []float32, lda int, bm matB, c []float32, ldc int, accumulate bool) {
	b.parallelFor(m, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for j := 0; j < n; j++ {
				var s float32
				for p := 0; p < k; p++ {
					s += a[i*lda+p] * bm.at(p, j)
				}
				if accumulate {
					s += c[i*ldc+j]
				}
				c[i*ldc+j] = s
			}
		}
	})
}
