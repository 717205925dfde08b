package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// Tolerances for dot-product ops, relative to Σ|terms| of each output.
const (
	dotATol = 1e-6
	dotRTol = 1e-5
)

type mmShape struct {
	lead    []int // leading dims of a, flattened into M
	m, k, n int
}

var matmulShapes = []mmShape{
	{nil, 1, 1, 1},
	{nil, 7, 13, 17},
	{nil, 33, 65, 31},
	{nil, 129, 67, 100},
	{nil, 3, 256, 5},
	{[]int{2}, 5, 3, 9},
	{[]int{2, 3}, 4, 17, 8},
}

func testMatMul(t *testing.T, be kernels.Backend) {
	for _, s := range matmulShapes {
		for _, dt := range weightDTypes {
			for _, bias := range []bool{false, true} {
				name := label("%v%dx%dx%d/%v/bias=%v", s.lead, s.m, s.k, s.n, dt, bias)
				t.Run(name, func(t *testing.T) { matmulCase(begin(t, be), s, dt, bias) })
			}
		}
	}
	t.Run("slice_views", func(t *testing.T) { matmulViews(begin(t, be)) })
	t.Run("bf16_act", func(t *testing.T) { testMatMulBF16Act(t, be) })
	t.Run("concurrent", func(t *testing.T) { matmulConcurrent(begin(t, be)) })
	e := newErrCtx(t, be)
	a, w, d := e.f(3, 5), e.f(4, 5), e.f(3, 4)
	expectErrors(t, "MatMul", []badCall{
		{"k_mismatch", func() error { return be.MatMul(d, a, e.f(4, 6), nil) }},
		{"dst_shape", func() error { return be.MatMul(e.f(3, 5), a, w, nil) }},
		{"dst_rows", func() error { return be.MatMul(e.f(2, 4), a, w, nil) }},
		{"bias_len", func() error { return be.MatMul(d, a, w, e.f(5)) }},
		{"w_rank3", func() error { return be.MatMul(d, a, e.f(1, 4, 5), nil) }},
		{"w_int", func() error { return be.MatMul(d, a, e.typed(kernels.Int32, 4, 5), nil) }},
		{"dst_f16", func() error { return be.MatMul(e.typed(kernels.Float16, 3, 4), a, w, nil) }},
		{"a_f16", func() error { return be.MatMul(d, e.typed(kernels.Float16, 3, 5), w, nil) }},
		{"nil_dst", func() error { return be.MatMul(nil, a, w, nil) }},
		{"nil_a", func() error { return be.MatMul(d, nil, w, nil) }},
		{"nil_w", func() error { return be.MatMul(d, a, nil, nil) }},
	})
}

func matmulCase(c *tc, s mmShape, dt kernels.DType, withBias bool) {
	c.Helper()
	rows := numel(s.lead) * s.m
	aShape := cat(s.lead, s.m, s.k)
	ah := c.randHost(aShape...)
	wh, wv := c.weight(dt, s.n, s.k)
	var bias, bv = (*kernels.Tensor)(nil), []float64(nil)
	if withBias {
		var bh *kernels.Tensor
		bh, bv = c.weight(dt, s.n)
		bias = c.up(bh)
	}
	want, scale := matmulRef(values(ah), wv, bv, rows, s.n, s.k)
	dShape := cat(s.lead, s.m, s.n)
	dst, a, w := c.nan(dShape...), c.up(ah), c.up(wh)
	c.call("MatMul", func() error { return c.be.MatMul(dst, a, w, bias) })
	c.expect("MatMul", dShape, c.downF32(dst), want, tols(want, scale, dotATol, c.dotRTol()))
}

// matmulRef is a·wᵀ + bias in float64 for a [rows, k], w [n, k] and bias
// [n] (nil: none), with Σ|terms| per output for the tolerance.
func matmulRef(av, wv, bv []float64, rows, n, k int) (want, scale []float64) {
	want, scale = make([]float64, rows*n), make([]float64, rows*n)
	for m := range rows {
		for j := range n {
			sum, abs := 0.0, 0.0
			for i := range k {
				p := av[m*k+i] * wv[j*k+i]
				sum += p
				abs += math.Abs(p)
			}
			if bv != nil {
				sum += bv[j]
				abs += math.Abs(bv[j])
			}
			want[m*n+j], scale[m*n+j] = sum, abs
		}
	}
	return want, scale
}

type bmmShape struct{ bt, m, k, n int }

func testBatchMatMul(t *testing.T, be kernels.Backend) {
	shapes := []bmmShape{{1, 1, 1, 1}, {3, 7, 13, 17}, {2, 33, 65, 31}, {4, 17, 32, 9}, {2, 1, 72, 129}}
	for _, s := range shapes {
		for _, transB := range []bool{false, true} {
			for _, alpha := range []float32{1, 0.125} {
				name := label("%dx%dx%dx%d/transB=%v/alpha=%v", s.bt, s.m, s.k, s.n, transB, alpha)
				t.Run(name, func(t *testing.T) { bmmCase(begin(t, be), s, transB, alpha) })
			}
		}
	}
	e := newErrCtx(t, be)
	a, b, d := e.f(2, 3, 5), e.f(2, 5, 4), e.f(2, 3, 4)
	expectErrors(t, "BatchMatMul", []badCall{
		{"batch_mismatch", func() error { return be.BatchMatMul(d, a, e.f(3, 5, 4), false, 1) }},
		{"k_mismatch", func() error { return be.BatchMatMul(d, a, e.f(2, 6, 4), false, 1) }},
		{"transB_k_mismatch", func() error { return be.BatchMatMul(d, a, b, true, 1) }},
		{"dst_shape", func() error { return be.BatchMatMul(e.f(2, 4, 3), a, b, false, 1) }},
		{"rank2", func() error { return be.BatchMatMul(e.f(3, 4), e.f(3, 5), e.f(5, 4), false, 1) }},
		{"int_b", func() error { return be.BatchMatMul(d, a, e.typed(kernels.Int32, 2, 5, 4), false, 1) }},
		{"nil_b", func() error { return be.BatchMatMul(d, a, nil, false, 1) }},
		{"nil_dst", func() error { return be.BatchMatMul(nil, a, b, false, 1) }},
	})
}

func bmmCase(c *tc, s bmmShape, transB bool, alpha float32) {
	c.Helper()
	ah := c.randHost(s.bt, s.m, s.k)
	bShape := []int{s.bt, s.k, s.n}
	if transB {
		bShape = []int{s.bt, s.n, s.k}
	}
	bh := c.randHost(bShape...)
	av, bv := values(ah), values(bh)
	want, scale := make([]float64, s.bt*s.m*s.n), make([]float64, s.bt*s.m*s.n)
	for b := range s.bt {
		for m := range s.m {
			for n := range s.n {
				sum, abs := 0.0, 0.0
				for k := range s.k {
					bi := (b*s.k+k)*s.n + n
					if transB {
						bi = (b*s.n+n)*s.k + k
					}
					p := av[(b*s.m+m)*s.k+k] * bv[bi]
					sum += p
					abs += math.Abs(p)
				}
				i := (b*s.m+m)*s.n + n
				want[i], scale[i] = float64(alpha)*sum, float64(alpha)*abs
			}
		}
	}
	dShape := []int{s.bt, s.m, s.n}
	dst, a, b := c.nan(dShape...), c.up(ah), c.up(bh)
	c.call("BatchMatMul", func() error { return c.be.BatchMatMul(dst, a, b, transB, alpha) })
	c.expect("BatchMatMul", dShape, c.downF32(dst), want, tols(want, scale, dotATol, c.dotRTol()))
}
