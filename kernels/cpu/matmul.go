package cpu

import "github.com/sanafarm/sanafarm/kernels"

// MatMul computes dst[..., M, N] = a[..., M, K]·wᵀ + bias with w [N, K].
// A bias is written into dst first and the GEMM accumulates onto it, so
// the bias costs one pass over dst and no extra buffer.
func (b *Backend) MatMul(dst, a, w, bias *kernels.Tensor) error {
	m, n, k, err := kernels.CheckMatMul(dst, a, w, bias)
	if err != nil {
		return err
	}
	if err := host("matmul", dst, a, w, bias); err != nil {
		return err
	}
	av := b.roundOperand(floatsOf(a)[:m*k], w.DType())
	out := dst.F32()
	if dst.DType() == kernels.BFloat16 { // bf16 activation: float32 result, rounded once
		out = make([]float32, m*n)
	}
	b.linear(out, av, m, n, k, k, weightB(w, k), floatsOf(bias), n)
	if dst.DType() == kernels.BFloat16 {
		b.narrowBF16(dst.U16(), out)
	}
	return nil
}

// narrowBF16 rounds src into the bf16 bits of dst (same length).
func (b *Backend) narrowBF16(dst []uint16, src []float32) {
	b.parallelFor(len(src), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = kernels.F32ToBF16(src[i])
		}
	})
}

// linear computes C[m×n] = A[m×k]·B + bias with A's row stride lda and C's
// row stride ldc (bias nil means none).
func (b *Backend) linear(c, a []float32, m, n, k, lda int, bm matB, bias []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 { // empty sum: only the bias (or zeros) remain
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			if bias != nil {
				copy(row, bias)
			} else {
				clear(row)
			}
		}
		return
	}
	if bias != nil {
		b.parallelFor(m, 256, func(lo, hi int) { fillRows(c[lo*ldc:], hi-lo, ldc, bias) })
	}
	b.gemm(m, n, k, a, lda, bm, c, ldc, bias != nil)
}

// BatchMatMul computes dst[i] = alpha·a[i]·op(b[i]). Many small batches
// (attention heads) run in parallel with single-threaded GEMMs; few large
// ones use the threaded GEMM one after another.
func (b *Backend) BatchMatMul(dst, a, bt *kernels.Tensor, transB bool, alpha float32) error {
	nb, m, n, k, err := kernels.CheckBatchMatMul(dst, a, bt, transB)
	if err != nil {
		return err
	}
	if err := host("batch matmul", dst, a, bt); err != nil {
		return err
	}
	ldb := n
	if transB {
		ldb = k
	}
	one := func(g *Backend, i int) {
		c := dst.F32()[i*m*n : (i+1)*m*n]
		bm := matB{f32: bt.F32()[i*k*n:], dt: kernels.Float32, ld: ldb, trans: transB}
		g.linear(c, a.F32()[i*m*k:], m, n, k, k, bm, nil, n)
		if alpha != 1 {
			for j := range c {
				c[j] *= alpha
			}
		}
	}
	if nb >= b.threads && m*n*k < 1<<22 {
		s := b.serial()
		b.parallelFor(nb, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				one(s, i)
			}
		})
		return nil
	}
	for i := range nb {
		one(b, i)
	}
	return nil
}
