package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

type softmaxCase struct {
	shape   []int
	maskDim int // 0: no mask, 1: mask [T], 2: mask [Tq, T]
	softCap float32
	amp     float64 // |x| range
}

func testSoftmax(t *testing.T, be kernels.Backend) {
	var cases []softmaxCase
	for _, shape := range [][]int{{1, 1}, {3, 17}, {2, 4, 33}, {2, 5, 129}} {
		for _, maskDim := range []int{0, 1, 2} {
			cases = append(cases, softmaxCase{shape, maskDim, 0, 4}, softmaxCase{shape, maskDim, 5, 20})
		}
	}
	cases = append(cases, softmaxCase{[]int{2, 3, 9, 300}, 2, 50, 80}, softmaxCase{[]int{7}, 1, 0, 30})
	for _, sc := range cases {
		t.Run(label("%v/mask%dd/cap=%v", sc.shape, sc.maskDim, sc.softCap), func(t *testing.T) {
			softmaxRun(begin(t, be), sc)
		})
	}
	e := newErrCtx(t, be)
	x := e.f(2, 3, 5)
	expectErrors(t, "Softmax", []badCall{
		{"mask_not_suffix", func() error { return be.Softmax(e.f(2, 3, 5), x, e.f(4), 0) }},
		{"mask_too_long", func() error { return be.Softmax(e.f(2, 3, 5), x, e.f(1, 2, 3, 5), 0) }},
		{"dst_shape", func() error { return be.Softmax(e.f(2, 3, 4), x, nil, 0) }},
		{"int_mask", func() error { return be.Softmax(e.f(2, 3, 5), x, e.typed(kernels.Int32, 5), 0) }},
		{"nil_x", func() error { return be.Softmax(e.f(2, 3, 5), nil, nil, 0) }},
	})
}

// softmaxMask returns a mask of the last maskDim dims of shape: values in
// [−2, 2) with −10000 and float32's lowest value sprinkled in, never on
// column 0 so every row keeps a finite entry.
func softmaxMask(c *tc, shape []int, maskDim int) *kernels.Tensor {
	if maskDim == 0 {
		return nil
	}
	if maskDim > len(shape) {
		maskDim = len(shape)
	}
	mShape := shape[len(shape)-maskDim:]
	last := shape[len(shape)-1]
	m := c.uniform(numel(mShape), -2, 2)
	for i := range m {
		if i%last == 0 {
			continue
		}
		switch c.rng.IntN(6) {
		case 0:
			m[i] = -10000
		case 1:
			m[i] = -math.MaxFloat32
		}
	}
	return host(m, mShape...)
}

func softmaxRun(c *tc, sc softmaxCase) {
	c.Helper()
	xh := host(c.uniform(numel(sc.shape), -sc.amp, sc.amp), sc.shape...)
	mh := softmaxMask(c, sc.shape, sc.maskDim)
	xv := values(xh)
	var mv []float64
	if mh != nil {
		mv = values(mh)
	}
	last := sc.shape[len(sc.shape)-1]
	want := make([]float64, len(xv))
	for r := 0; r < len(xv); r += last {
		maxS := math.Inf(-1)
		for j := range last {
			s := xv[r+j]
			if sc.softCap > 0 {
				s = float64(sc.softCap) * math.Tanh(s/float64(sc.softCap))
			}
			if mv != nil {
				s += mv[(r+j)%len(mv)]
			}
			want[r+j] = s
			maxS = math.Max(maxS, s)
		}
		sum := 0.0
		for j := range last {
			want[r+j] = math.Exp(want[r+j] - maxS)
			sum += want[r+j]
		}
		for j := range last {
			want[r+j] /= sum
		}
	}
	ins := []*kernels.Tensor{xh}
	if mh != nil {
		ins = append(ins, mh)
	}
	c.runElem("Softmax", sc.shape, ins, want, tols(want, nil, transATol, transRTol), 0,
		func(d *kernels.Tensor, in []*kernels.Tensor) error {
			var m *kernels.Tensor
			if len(in) > 1 {
				m = in[1]
			}
			return c.be.Softmax(d, in[0], m, sc.softCap)
		})
}
