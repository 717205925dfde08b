package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// Tolerances: exactly rounded elementwise arithmetic, and ops that use
// transcendental functions (relative to |result| or Σ|terms|).
const (
	elemATol  = 1e-7
	elemRTol  = 1e-6
	transATol = 1e-6
	transRTol = 1e-5
)

// runElem runs f out of place into a NaN-poisoned dst and, when alias ≥ 0,
// again in place with dst = ins[alias], comparing both with want.
func (c *tc) runElem(op string, shape []int, ins []*kernels.Tensor, want, tol []float64, alias int,
	f func(dst *kernels.Tensor, ins []*kernels.Tensor) error) {
	c.Helper()
	dev := make([]*kernels.Tensor, len(ins))
	for i, h := range ins {
		dev[i] = c.up(h)
	}
	dst := c.nan(shape...)
	c.call(op, func() error { return f(dst, dev) })
	c.expect(op, shape, c.downF32(dst), want, tol)
	if alias < 0 {
		return
	}
	for i, h := range ins {
		dev[i] = c.up(h)
	}
	c.call(op, func() error { return f(dev[alias], dev) })
	c.expect(op+" in place", shape, c.downF32(dev[alias]), want, tol)
}

func actRef(act kernels.Act, x float64) float64 {
	switch act {
	case kernels.ActSiLU:
		return x / (1 + math.Exp(-x))
	case kernels.ActGELUTanh:
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	case kernels.ActReLU:
		return math.Max(x, 0)
	}
	return x
}

var allActs = []kernels.Act{kernels.ActNone, kernels.ActSiLU, kernels.ActGELUTanh, kernels.ActReLU}

// actInputs returns values in [-8, 8) with extremes that overflow a naive
// exp, tiny values and zeros mixed in.
func (c *tc) actInputs(n int) []float32 {
	v := c.uniform(n, -8, 8)
	special := []float32{0, 1e-3, -1e-3, 20, -20, 50, -50, 90, -90, float32(math.Copysign(0, -1))}
	for i := 0; i < n && i < len(special); i++ {
		v[c.rng.IntN(n)] = special[i]
	}
	return v
}

var elemShapes = [][]int{{1}, {7}, {3, 17}, {2, 33, 65}, {5, 129}}

func testActivate(t *testing.T, be kernels.Backend) {
	for _, act := range allActs {
		for _, shape := range elemShapes {
			t.Run(label("%v/%v", act, shape), func(t *testing.T) {
				c := begin(t, be)
				xh := host(c.actInputs(numel(shape)), shape...)
				want := make([]float64, xh.Len())
				for i, x := range values(xh) {
					want[i] = actRef(act, x)
				}
				c.runElem("Activate", shape, []*kernels.Tensor{xh}, want, tols(want, nil, transATol, transRTol), 0,
					func(d *kernels.Tensor, in []*kernels.Tensor) error { return be.Activate(d, in[0], act) })
			})
		}
	}
	e := newErrCtx(t, be)
	x := e.f(3, 4)
	expectErrors(t, "Activate", []badCall{
		{"dst_shape", func() error { return be.Activate(e.f(4, 3), x, kernels.ActSiLU) }},
		{"bad_act", func() error { return be.Activate(e.f(3, 4), x, kernels.Act(200)) }},
		{"int_x", func() error { return be.Activate(e.f(3, 4), e.typed(kernels.Int32, 3, 4), kernels.ActReLU) }},
		{"nil_x", func() error { return be.Activate(e.f(3, 4), nil, kernels.ActReLU) }},
	})
}

func testGLU(t *testing.T, be kernels.Backend) {
	for _, act := range allActs {
		for _, gateFirst := range []bool{false, true} {
			for _, shape := range [][]int{{1, 2}, {3, 34}, {2, 5, 130}, {4, 258}} {
				t.Run(label("%v/gateFirst=%v/%v", act, gateFirst, shape), func(t *testing.T) {
					gluRun(begin(t, be), act, gateFirst, shape)
				})
			}
		}
	}
	e := newErrCtx(t, be)
	x := e.f(3, 8)
	expectErrors(t, "GLU", []badCall{
		{"odd_width", func() error { return be.GLU(e.f(3, 3), e.f(3, 7), kernels.ActSiLU, false) }},
		{"dst_width", func() error { return be.GLU(e.f(3, 8), x, kernels.ActSiLU, false) }},
		{"dst_rows", func() error { return be.GLU(e.f(2, 4), x, kernels.ActSiLU, false) }},
		{"nil_dst", func() error { return be.GLU(nil, x, kernels.ActSiLU, true) }},
	})
}

func gluRun(c *tc, act kernels.Act, gateFirst bool, shape []int) {
	c.Helper()
	w := shape[len(shape)-1]
	h := w / 2
	xh := host(c.actInputs(numel(shape)), shape...)
	xv := values(xh)
	outShape := cat(shape[:len(shape)-1], h)
	want, scale := make([]float64, numel(outShape)), make([]float64, numel(outShape))
	for i := range want {
		r, j := i/h, i%h
		val, gate := xv[r*w+j], xv[r*w+h+j]
		if gateFirst {
			val, gate = gate, val
		}
		want[i] = val * actRef(act, gate)
		scale[i] = math.Abs(want[i])
	}
	c.runElem("GLU", outShape, []*kernels.Tensor{xh}, want, tols(want, scale, transATol, transRTol), -1,
		func(d *kernels.Tensor, in []*kernels.Tensor) error { return c.be.GLU(d, in[0], act, gateFirst) })
}

// bcastCase is a with shape a and b with a suffix shape of a.
type bcastCase struct {
	name string
	a, b []int
}

var bcastCases = []bcastCase{
	{"same_1", []int{1}, []int{1}},
	{"same", []int{3, 17}, []int{3, 17}},
	{"row", []int{2, 5, 33}, []int{33}},
	{"matrix", []int{2, 5, 33}, []int{5, 33}},
	{"same_3d", []int{2, 7, 65}, []int{2, 7, 65}},
	{"row_129", []int{4, 129}, []int{129}},
}

func testAdd(t *testing.T, be kernels.Backend) {
	testBroadcast(t, be, "Add", func(a, b float64) (float64, float64) { return a + b, math.Abs(a) + math.Abs(b) },
		be.Add)
}

func testMul(t *testing.T, be kernels.Backend) {
	testBroadcast(t, be, "Mul", func(a, b float64) (float64, float64) { return a * b, math.Abs(a * b) }, be.Mul)
}

func testBroadcast(t *testing.T, be kernels.Backend, op string, ref func(a, b float64) (float64, float64),
	f func(dst, a, b *kernels.Tensor) error) {
	for _, bc := range bcastCases {
		t.Run(bc.name, func(t *testing.T) {
			c := begin(t, be)
			ah, bh := c.randHost(bc.a...), c.randHost(bc.b...)
			av, bv := values(ah), values(bh)
			want, scale := make([]float64, len(av)), make([]float64, len(av))
			for i := range av {
				want[i], scale[i] = ref(av[i], bv[i%len(bv)])
			}
			c.runElem(op, bc.a, []*kernels.Tensor{ah, bh}, want, tols(want, scale, elemATol, elemRTol), 0,
				func(d *kernels.Tensor, in []*kernels.Tensor) error { return f(d, in[0], in[1]) })
		})
	}
	e := newErrCtx(t, be)
	a := e.f(2, 3, 4)
	expectErrors(t, op, []badCall{
		{"not_suffix", func() error { return f(e.f(2, 3, 4), a, e.f(3)) }},
		{"b_longer", func() error { return f(e.f(2, 3, 4), a, e.f(5, 2, 3, 4)) }},
		{"leading_not_suffix", func() error { return f(e.f(2, 3, 4), a, e.f(2, 4)) }},
		{"dst_shape", func() error { return f(e.f(2, 3, 5), a, e.f(4)) }},
		{"nil_b", func() error { return f(e.f(2, 3, 4), a, nil) }},
	})
}

func testAxpby(t *testing.T, be kernels.Backend) {
	coefs := [][2]float32{{1, 1}, {4.5, -3.5}, {0, 1}, {-0.25, 0}}
	for _, shape := range elemShapes {
		for _, ab := range coefs {
			t.Run(label("%v/alpha=%v/beta=%v", shape, ab[0], ab[1]), func(t *testing.T) {
				c := begin(t, be)
				ah, bh := c.randHost(shape...), c.randHost(shape...)
				av, bv := values(ah), values(bh)
				want, scale := make([]float64, len(av)), make([]float64, len(av))
				al, bt := float64(ab[0]), float64(ab[1])
				for i := range av {
					want[i], scale[i] = al*av[i]+bt*bv[i], math.Abs(al*av[i])+math.Abs(bt*bv[i])
				}
				tol := tols(want, scale, elemATol, elemRTol)
				f := func(d *kernels.Tensor, in []*kernels.Tensor) error { return be.Axpby(d, in[0], in[1], ab[0], ab[1]) }
				c.runElem("Axpby", shape, []*kernels.Tensor{ah, bh}, want, tol, 0, f)
				c.runElem("Axpby (dst = b)", shape, []*kernels.Tensor{ah, bh}, want, tol, 1, f)
			})
		}
	}
	e := newErrCtx(t, be)
	a := e.f(3, 4)
	expectErrors(t, "Axpby", []badCall{
		{"b_shape", func() error { return be.Axpby(e.f(3, 4), a, e.f(4), 1, 1) }},
		{"dst_shape", func() error { return be.Axpby(e.f(4, 3), a, e.f(3, 4), 1, 1) }},
		{"nil_a", func() error { return be.Axpby(e.f(3, 4), nil, a, 1, 1) }},
	})
}

var bndShapes = [][3]int{{1, 1, 1}, {2, 7, 32}, {3, 13, 65}, {1, 129, 17}}

func testModulate(t *testing.T, be kernels.Backend) {
	for _, s := range bndShapes {
		t.Run(label("B%d_N%d_D%d", s[0], s[1], s[2]), func(t *testing.T) {
			c := begin(t, be)
			b, n, d := s[0], s[1], s[2]
			xh, shh, sch := c.randHost(b, n, d), c.randHost(b, d), c.randHost(b, d)
			xv, sh, sc := values(xh), values(shh), values(sch)
			want, scale := make([]float64, len(xv)), make([]float64, len(xv))
			for i, x := range xv {
				bd := (i/(n*d))*d + i%d
				want[i] = x*(1+sc[bd]) + sh[bd]
				scale[i] = math.Abs(x) + math.Abs(x*sc[bd]) + math.Abs(sh[bd])
			}
			c.runElem("Modulate", []int{b, n, d}, []*kernels.Tensor{xh, shh, sch}, want,
				tols(want, scale, elemATol, elemRTol), 0,
				func(dst *kernels.Tensor, in []*kernels.Tensor) error { return be.Modulate(dst, in[0], in[1], in[2]) })
		})
	}
	e := newErrCtx(t, be)
	x, sv := e.f(2, 3, 8), e.f(2, 8)
	expectErrors(t, "Modulate", []badCall{
		{"shift_shape", func() error { return be.Modulate(e.f(2, 3, 8), x, e.f(2, 7), sv) }},
		{"scale_batch", func() error { return be.Modulate(e.f(2, 3, 8), x, sv, e.f(3, 8)) }},
		{"x_rank2", func() error { return be.Modulate(e.f(6, 8), e.f(6, 8), sv, sv) }},
		{"nil_scale", func() error { return be.Modulate(e.f(2, 3, 8), x, sv, nil) }},
	})
}

func testGatedAdd(t *testing.T, be kernels.Backend) {
	for _, s := range bndShapes {
		t.Run(label("B%d_N%d_D%d", s[0], s[1], s[2]), func(t *testing.T) {
			c := begin(t, be)
			b, n, d := s[0], s[1], s[2]
			xh, gh, yh := c.randHost(b, n, d), c.randHost(b, d), c.randHost(b, n, d)
			xv, gv, yv := values(xh), values(gh), values(yh)
			want, scale := make([]float64, len(xv)), make([]float64, len(xv))
			for i, x := range xv {
				g := gv[(i/(n*d))*d+i%d]
				want[i], scale[i] = x+g*yv[i], math.Abs(x)+math.Abs(g*yv[i])
			}
			c.runElem("GatedAdd", []int{b, n, d}, []*kernels.Tensor{xh, gh, yh}, want,
				tols(want, scale, elemATol, elemRTol), 0,
				func(dst *kernels.Tensor, in []*kernels.Tensor) error { return be.GatedAdd(dst, in[0], in[1], in[2]) })
		})
	}
	e := newErrCtx(t, be)
	x, g := e.f(2, 3, 8), e.f(2, 8)
	expectErrors(t, "GatedAdd", []badCall{
		{"gate_shape", func() error { return be.GatedAdd(e.f(2, 3, 8), x, e.f(2, 3, 8), x) }},
		{"y_shape", func() error { return be.GatedAdd(e.f(2, 3, 8), x, g, e.f(2, 4, 8)) }},
		{"dst_shape", func() error { return be.GatedAdd(e.f(2, 3, 7), x, g, x) }},
		{"nil_y", func() error { return be.GatedAdd(e.f(2, 3, 8), x, g, nil) }},
	})
}
