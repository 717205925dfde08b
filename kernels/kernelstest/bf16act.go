package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// bf16 activations (kernels.Backend MatMul and MixFFNConv): a and u may be
// BFloat16 (read exactly, so the reference uses their bf16 values and the
// float32 tolerance still holds), dst may be BFloat16 (one rounding to
// nearest even on store: half an ulp, 2^-9 relative, which the tolerance
// allows twice over for a backend that rounds the float32 sum before
// adding the last term).
const bf16StoreRTol = 1.0 / 256

// actModes are the (input, output) dtypes the bf16-activation cases run.
var actModes = []struct{ in, out kernels.DType }{
	{kernels.BFloat16, kernels.Float32},
	{kernels.Float32, kernels.BFloat16},
	{kernels.BFloat16, kernels.BFloat16},
}

// actInput returns host values for an activation of dtype dt and the exact
// values the reference must use.
func (c *tc) actInput(dt kernels.DType, shape ...int) (*kernels.Tensor, []float64) {
	c.Helper()
	return c.weight(dt, shape...) // same draw and rounding as a weight
}

// actOutput allocates a NaN-poisoned output of dtype dt.
func (c *tc) actOutput(dt kernels.DType, shape ...int) *kernels.Tensor {
	c.Helper()
	h := nanHost(shape...)
	if dt == kernels.BFloat16 {
		var err error
		if h, err = h.ToHalf(dt); err != nil {
			c.Fatal(err)
		}
	}
	return c.up(h)
}

// actResult downloads an output of either dtype as float32 values.
func (c *tc) actResult(d *kernels.Tensor) []float32 {
	c.Helper()
	h, err := c.down(d).ToF32()
	if err != nil {
		c.Fatal(err)
	}
	return h.F32()
}

// actTols widens tol by one bf16 store rounding when out is BFloat16.
func actTols(tol, want []float64, out kernels.DType) []float64 {
	if out == kernels.BFloat16 {
		for i := range tol {
			tol[i] += bf16StoreRTol * math.Abs(want[i])
		}
	}
	return tol
}

func testMatMulBF16Act(t *testing.T, be kernels.Backend) {
	for _, s := range []mmShape{{nil, 7, 13, 17}, {nil, 33, 65, 31}, {[]int{2}, 5, 3, 9}} {
		for _, wdt := range []kernels.DType{kernels.Float32, kernels.BFloat16} {
			for _, md := range actModes {
				for _, bias := range []bool{false, true} {
					name := label("%v%dx%dx%d/w=%v/a=%v/dst=%v/bias=%v", s.lead, s.m, s.k, s.n, wdt, md.in, md.out, bias)
					t.Run(name, func(t *testing.T) { matmulActCase(begin(t, be), s, wdt, md.in, md.out, bias) })
				}
			}
		}
	}
}

func matmulActCase(c *tc, s mmShape, wdt, adt, ddt kernels.DType, withBias bool) {
	c.Helper()
	rows := numel(s.lead) * s.m
	ah, av := c.actInput(adt, cat(s.lead, s.m, s.k)...)
	wh, wv := c.weight(wdt, s.n, s.k)
	var bias *kernels.Tensor
	var bv []float64
	if withBias {
		var bh *kernels.Tensor
		bh, bv = c.weight(wdt, s.n)
		bias = c.up(bh)
	}
	want, scale := matmulRef(av, wv, bv, rows, s.n, s.k)
	dShape := cat(s.lead, s.m, s.n)
	dst, a, w := c.actOutput(ddt, dShape...), c.up(ah), c.up(wh)
	c.call("MatMul", func() error { return c.be.MatMul(dst, a, w, bias) })
	if dst.DType() != ddt {
		c.Fatalf("MatMul changed dst's dtype to %v", dst.DType())
	}
	tol := actTols(tols(want, scale, dotATol, c.dotRTol()), want, ddt)
	c.expect("MatMul", dShape, c.actResult(dst), want, tol)
}

func testMixFFNBF16Act(t *testing.T, be kernels.Backend) {
	for _, mc := range []mixFFNCase{{"odd_grid", 2, 5, 7, 3}, {"wide", 1, 4, 4, 80}} {
		for _, md := range actModes {
			for _, bias := range []bool{false, true} {
				name := label("%s/u=%v/dst=%v/bias=%v", mc.name, md.in, md.out, bias)
				t.Run(name, func(t *testing.T) { mixFFNActCase(begin(t, be), mc, md.in, md.out, bias) })
			}
		}
	}
}

func mixFFNActCase(c *tc, mc mixFFNCase, udt, ddt kernels.DType, withBias bool) {
	c.Helper()
	uh, uv := c.actInput(udt, mc.b, mc.h, mc.w, 2*mc.c)
	wh, wv := c.weight(kernels.BFloat16, 2*mc.c, 3, 3, 1)
	var ib, db *kernels.Tensor
	var ibv, dbv []float64
	if withBias {
		var h *kernels.Tensor
		h, ibv = c.weight(kernels.BFloat16, 2*mc.c)
		ib = c.up(h)
		h, dbv = c.weight(kernels.BFloat16, 2*mc.c)
		db = c.up(h)
	}
	want, scale := mixFFNRef(mc, uv, ibv, wv, dbv)
	shape := []int{mc.b, mc.h, mc.w, mc.c}
	dst, u, w := c.actOutput(ddt, shape...), c.up(uh), c.up(wh)
	c.call("MixFFNConv", func() error { return c.be.MixFFNConv(dst, u, ib, w, db) })
	tol := actTols(tols(want, scale, dotATol, dotRTol+1e-6), want, ddt)
	c.expect("MixFFNConv", shape, c.actResult(dst), want, tol)
}
