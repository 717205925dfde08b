package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// Tolerances for normalizations (absolute, and relative to the magnitude
// of the terms of each output).
const (
	normATol = 2e-5
	normRTol = 1e-5
)

var normShapes = [][]int{{1, 1}, {3, 17}, {2, 5, 64}, {4, 129}, {2, 3, 33}, {1, 2304}}

// layerNormRef normalizes each row of x (length d) in float64.
func layerNormRef(x []float64, d int, eps float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += d {
		row := x[r : r+d]
		mean := 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(d)
		varc := 0.0
		for _, v := range row {
			varc += (v - mean) * (v - mean)
		}
		varc /= float64(d)
		inv := 1 / math.Sqrt(varc+eps)
		for i, v := range row {
			out[r+i] = (v - mean) * inv
		}
	}
	return out
}

func testLayerNorm(t *testing.T, be kernels.Backend) {
	for _, shape := range normShapes {
		for _, eps := range []float32{1e-6, 1e-5} {
			t.Run(label("%v/eps=%g", shape, eps), func(t *testing.T) {
				layerNormRun(begin(t, be), shape, eps, 0.5, normRTol)
			})
		}
	}
	// A mean far from zero relative to the spread needs a stable variance
	// (two-pass or Welford); E[x²]−E[x]² in float32 fails this.
	t.Run("offset_mean", func(t *testing.T) { layerNormRun(begin(t, be), []int{4, 64}, 1e-6, 8, 1e-4) })
	t.Run("in_place", func(t *testing.T) {
		c := begin(t, be)
		xh := c.randHost(3, 17)
		want := layerNormRef(values(xh), 17, 1e-6)
		x := c.up(xh)
		c.call("LayerNorm", func() error { return be.LayerNorm(x, x, 1e-6) })
		c.expect("LayerNorm in place", []int{3, 17}, c.downF32(x), want, tols(want, nil, normATol, normRTol))
	})
	e := newErrCtx(t, be)
	x := e.f(3, 8)
	expectErrors(t, "LayerNorm", []badCall{
		{"dst_shape", func() error { return be.LayerNorm(e.f(3, 7), x, 1e-6) }},
		{"dst_int", func() error { return be.LayerNorm(e.typed(kernels.Int32, 3, 8), x, 1e-6) }},
		{"nil_x", func() error { return be.LayerNorm(e.f(3, 8), nil, 1e-6) }},
		{"nil_dst", func() error { return be.LayerNorm(nil, x, 1e-6) }},
	})
}

func layerNormRun(c *tc, shape []int, eps float32, offset float64, rtol float64) {
	c.Helper()
	xh := host(c.uniform(numel(shape), offset-1, offset+1), shape...)
	want := layerNormRef(values(xh), shape[len(shape)-1], float64(eps))
	dst, x := c.nan(shape...), c.up(xh)
	c.call("LayerNorm", func() error { return c.be.LayerNorm(dst, x, eps) })
	c.expect("LayerNorm", shape, c.downF32(dst), want, tols(want, nil, normATol, rtol))
}

func testLayerNormModulate(t *testing.T, be kernels.Backend) {
	for _, s := range [][3]int{{1, 1, 1}, {2, 7, 32}, {3, 13, 65}, {1, 5, 129}} {
		for _, ddt := range []kernels.DType{kernels.Float32, kernels.BFloat16} {
			name := label("B%d_N%d_D%d", s[0], s[1], s[2])
			if ddt == kernels.BFloat16 {
				name += "/dst=BF16"
			}
			t.Run(name, func(t *testing.T) { layerNormModulateCase(begin(t, be), s, ddt) })
		}
	}
	e := newErrCtx(t, be)
	x, sv, d := e.f(2, 3, 8), e.f(2, 8), e.f(2, 3, 8)
	expectErrors(t, "LayerNormModulate", []badCall{
		{"shift_shape", func() error { return be.LayerNormModulate(d, x, e.f(2, 7), sv, 1e-6) }},
		{"scale_batch", func() error { return be.LayerNormModulate(d, x, sv, e.f(1, 8), 1e-6) }},
		{"x_rank2", func() error { return be.LayerNormModulate(e.f(6, 8), e.f(6, 8), sv, sv, 1e-6) }},
		{"dst_shape", func() error { return be.LayerNormModulate(e.f(2, 3, 7), x, sv, sv, 1e-6) }},
		{"nil_shift", func() error { return be.LayerNormModulate(d, x, nil, sv, 1e-6) }},
		{"dst_f16", func() error { return be.LayerNormModulate(e.typed(kernels.Float16, 2, 3, 8), x, sv, sv, 1e-6) }},
	})
}

// layerNormModulateCase checks one shape with a Float32 or BFloat16 dst
// (bf16: one rounding on store, bf16StoreRTol).
func layerNormModulateCase(c *tc, s [3]int, ddt kernels.DType) {
	c.Helper()
	b, n, d := s[0], s[1], s[2]
	xh, shh, sch := c.randHost(b, n, d), c.randHost(b, d), c.randHost(b, d)
	ln := layerNormRef(values(xh), d, 1e-6)
	sh, sc := values(shh), values(sch)
	want, scale := make([]float64, len(ln)), make([]float64, len(ln))
	for i := range ln {
		bd := (i/(n*d))*d + i%d
		m := ln[i] * (1 + sc[bd])
		want[i], scale[i] = m+sh[bd], math.Abs(m)+math.Abs(sh[bd])
	}
	dst, x, shift, scl := c.actOutput(ddt, b, n, d), c.up(xh), c.up(shh), c.up(sch)
	c.call("LayerNormModulate", func() error { return c.be.LayerNormModulate(dst, x, shift, scl, 1e-6) })
	tol := actTols(tols(want, scale, normATol, normRTol), want, ddt)
	c.expect("LayerNormModulate", []int{b, n, d}, c.actResult(dst), want, tol)
}

type rmsVariant struct {
	name         string
	w, b, addOne bool
}

func testRMSNorm(t *testing.T, be kernels.Backend) {
	variants := []rmsVariant{
		{"plain", false, false, false},
		{"weight", true, false, false},
		{"weight_bias", true, true, false},
		{"gemma_addone", true, false, true},
		{"addone_bias", true, true, true},
	}
	for _, v := range variants {
		dts := weightDTypes
		if !v.w {
			dts = dts[:1]
		}
		for _, dt := range dts {
			for _, shape := range [][]int{{1, 1}, {5, 17}, {2, 7, 32}, {3, 129}} {
				t.Run(label("%s/%v/%v", v.name, dt, shape), func(t *testing.T) {
					rmsRun(begin(t, be), v, dt, shape)
				})
			}
		}
	}
	e := newErrCtx(t, be)
	x, w, d := e.f(3, 8), e.f(8), e.f(3, 8)
	p := kernels.NormParams{Eps: 1e-5}
	expectErrors(t, "RMSNorm", []badCall{
		{"w_len", func() error { return be.RMSNorm(d, x, e.f(7), nil, p) }},
		{"b_len", func() error { return be.RMSNorm(d, x, w, e.f(9), p) }},
		{"w_int", func() error { return be.RMSNorm(d, x, e.typed(kernels.Int32, 8), nil, p) }},
		{"dst_shape", func() error { return be.RMSNorm(e.f(3, 9), x, w, nil, p) }},
		{"nil_x", func() error { return be.RMSNorm(d, nil, w, nil, p) }},
	})
}

func rmsRun(c *tc, v rmsVariant, dt kernels.DType, shape []int) {
	c.Helper()
	d := shape[len(shape)-1]
	xh := host(c.uniform(numel(shape), -2, 2), shape...)
	var w, b *kernels.Tensor
	var wv, bv []float64
	if v.w {
		var wh *kernels.Tensor
		wh, wv = c.weight(dt, d)
		w = c.up(wh)
	}
	if v.b {
		var bh *kernels.Tensor
		bh, bv = c.weight(dt, d)
		b = c.up(bh)
	}
	eps := float32(1e-5)
	xv := values(xh)
	want, scale := make([]float64, len(xv)), make([]float64, len(xv))
	for r := 0; r < len(xv); r += d {
		ms := 0.0
		for _, x := range xv[r : r+d] {
			ms += x * x
		}
		inv := 1 / math.Sqrt(ms/float64(d)+float64(eps))
		for i := range d {
			y := xv[r+i] * inv
			if wv != nil {
				if v.addOne {
					y *= 1 + wv[i]
				} else {
					y *= wv[i]
				}
			}
			want[r+i], scale[r+i] = y, math.Abs(y)
			if bv != nil {
				want[r+i] += bv[i]
				scale[r+i] += math.Abs(bv[i])
			}
		}
	}
	dst, x := c.nan(shape...), c.up(xh)
	p := kernels.NormParams{Eps: eps, AddOne: v.addOne}
	c.call("RMSNorm", func() error { return c.be.RMSNorm(dst, x, w, b, p) })
	c.expect("RMSNorm", shape, c.downF32(dst), want, tols(want, scale, normATol, normRTol))
}
