package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

type mixFFNCase struct {
	name    string
	b, h, w int
	c       int // value (= gate) channels
}

var mixFFNCases = []mixFFNCase{
	{"tiny", 1, 1, 1, 1},
	{"odd_grid", 2, 5, 7, 3},
	{"wide", 1, 4, 4, 80},
	{"tall", 1, 9, 2, 16},
}

func testMixFFNConv(t *testing.T, be kernels.Backend) {
	for _, mc := range mixFFNCases {
		for _, dt := range weightDTypes {
			for _, bias := range []bool{false, true} {
				t.Run(label("%s/%v/bias=%v", mc.name, dt, bias), func(t *testing.T) { mixFFNRun(begin(t, be), mc, dt, bias) })
			}
		}
	}
	t.Run("bf16_act", func(t *testing.T) { testMixFFNBF16Act(t, be) })
	e := newErrCtx(t, be)
	u, w, d := e.f(1, 4, 4, 6), e.f(6, 3, 3, 1), e.f(1, 4, 4, 3)
	expectErrors(t, "MixFFNConv", []badCall{
		{"odd_channels", func() error { return be.MixFFNConv(e.f(1, 4, 4, 2), e.f(1, 4, 4, 5), nil, e.f(5, 3, 3, 1), nil) }},
		{"dst_shape", func() error { return be.MixFFNConv(e.f(1, 4, 4, 6), u, nil, w, nil) }},
		{"w_shape", func() error { return be.MixFFNConv(d, u, nil, e.f(6, 5, 5, 1), nil) }},
		{"bias_len", func() error { return be.MixFFNConv(d, u, e.f(3), w, nil) }},
		{"u_rank3", func() error { return be.MixFFNConv(d, e.f(4, 4, 6), nil, w, nil) }},
		{"nil_w", func() error { return be.MixFFNConv(d, u, nil, nil, nil) }},
		{"nil_u", func() error { return be.MixFFNConv(d, nil, nil, w, nil) }},
		{"w_int", func() error { return be.MixFFNConv(d, u, nil, e.typed(kernels.Int32, 6, 3, 3, 1), nil) }},
		{"u_f16", func() error { return be.MixFFNConv(d, e.typed(kernels.Float16, 1, 4, 4, 6), nil, w, nil) }},
	})
}

func mixFFNRun(c *tc, mc mixFFNCase, dt kernels.DType, withBias bool) {
	c.Helper()
	uh := c.randHost(mc.b, mc.h, mc.w, 2*mc.c)
	wh, wv := c.weight(dt, 2*mc.c, 3, 3, 1)
	var ib, db *kernels.Tensor
	var ibv, dbv []float64
	if withBias {
		var h *kernels.Tensor
		h, ibv = c.weight(dt, 2*mc.c)
		ib = c.up(h)
		h, dbv = c.weight(dt, 2*mc.c)
		db = c.up(h)
	}
	want, scale := mixFFNRef(mc, values(uh), ibv, wv, dbv)
	shape := []int{mc.b, mc.h, mc.w, mc.c}
	dst, u, w := c.nan(shape...), c.up(uh), c.up(wh)
	c.call("MixFFNConv", func() error { return c.be.MixFFNConv(dst, u, ib, w, db) })
	// Float32 throughout in every precision (the depthwise part is never
	// rounded): the dot-product bound, plus SiLU's few ulps.
	c.expect("MixFFNConv", shape, c.downF32(dst), want, tols(want, scale, dotATol, dotRTol+1e-6))
}

func silu64(x float64) float64 { return x / (1 + math.Exp(-x)) }

// mixFFNRef computes value ⊙ SiLU(gate) of the depthwise 3×3 conv of
// SiLU(u + inBias) in float64; scale bounds the error propagated from the
// two sums: Σ|value terms|·|SiLU(gate)| + |value|·1.1·Σ|gate terms|
// (SiLU's slope is within [−0.1, 1.1]).
func mixFFNRef(mc mixFFNCase, u, ib, w, db []float64) (want, scale []float64) {
	C2 := 2 * mc.c
	conv := func(b, y, x, ch int) (sum, abs float64) {
		if db != nil {
			sum, abs = db[ch], math.Abs(db[ch])
		}
		for ky := range 3 {
			for kx := range 3 {
				iy, ix := y-1+ky, x-1+kx
				if iy < 0 || iy >= mc.h || ix < 0 || ix >= mc.w {
					continue
				}
				a := u[((b*mc.h+iy)*mc.w+ix)*C2+ch]
				if ib != nil {
					a += ib[ch]
				}
				p := silu64(a) * w[ch*9+ky*3+kx]
				sum += p
				abs += math.Abs(p)
			}
		}
		return sum, abs
	}
	for b := range mc.b {
		for y := range mc.h {
			for x := range mc.w {
				for ch := range mc.c {
					v, va := conv(b, y, x, ch)
					g, ga := conv(b, y, x, mc.c+ch)
					want = append(want, v*silu64(g))
					scale = append(scale, va*math.Abs(silu64(g))+math.Abs(v)*1.1*ga)
				}
			}
		}
	}
	return want, scale
}
