package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

type convCase struct {
	name                string
	b, h, w, cin, cout  int
	kh, kw              int
	stride, pad, groups int
}

var convCases = []convCase{
	{"dense3x3_s1", 2, 5, 7, 5, 6, 3, 3, 1, 1, 1},
	{"dense3x3_s1_wide", 1, 16, 12, 32, 32, 3, 3, 1, 1, 1},
	{"dense3x3_s2", 1, 9, 6, 4, 7, 3, 3, 2, 1, 1},
	{"dense3x3_s2_odd", 1, 7, 11, 3, 16, 3, 3, 2, 1, 1},
	{"dense3x3_nopad", 1, 6, 5, 3, 4, 3, 3, 1, 0, 1},
	{"pointwise1x1", 2, 3, 5, 13, 17, 1, 1, 1, 0, 1},
	{"pointwise1x1_single_pixel", 3, 1, 1, 65, 31, 1, 1, 1, 0, 1},
	{"depthwise3x3", 1, 6, 9, 33, 33, 3, 3, 1, 1, 33},
	{"depthwise5x5", 2, 7, 5, 17, 17, 5, 5, 1, 2, 17},
	{"grouped1x1_96_g3", 1, 4, 3, 96, 96, 1, 1, 1, 0, 3},
	{"grouped3x3_g4", 1, 5, 4, 8, 12, 3, 3, 1, 1, 4},
	{"kernel1x3_nonsquare", 1, 4, 6, 5, 3, 1, 3, 1, 0, 1},
}

func testConv2D(t *testing.T, be kernels.Backend) {
	for _, cc := range convCases {
		for _, dt := range weightDTypes {
			for _, bias := range []bool{false, true} {
				name := label("%s/%v/bias=%v", cc.name, dt, bias)
				t.Run(name, func(t *testing.T) { convRun(begin(t, be), cc, dt, bias) })
			}
		}
	}
	e := newErrCtx(t, be)
	x, w, d := e.f(1, 4, 4, 6), e.f(8, 3, 3, 6), e.f(1, 4, 4, 8)
	p := kernels.ConvParams{Stride: 1, Pad: 1, Groups: 1}
	expectErrors(t, "Conv2D", []badCall{
		{"cin_mismatch", func() error { return be.Conv2D(d, x, e.f(8, 3, 3, 5), nil, p) }},
		{"dst_shape", func() error { return be.Conv2D(e.f(1, 2, 2, 8), x, w, nil, p) }},
		{"dst_channels", func() error { return be.Conv2D(e.f(1, 4, 4, 7), x, w, nil, p) }},
		{"groups_not_dividing", func() error {
			return be.Conv2D(d, x, e.f(8, 3, 3, 2), nil, kernels.ConvParams{Stride: 1, Pad: 1, Groups: 4})
		}},
		{"bias_len", func() error { return be.Conv2D(d, x, w, e.f(7), p) }},
		{"x_rank3", func() error { return be.Conv2D(d, e.f(4, 4, 6), w, nil, p) }},
		{"stride0", func() error { return be.Conv2D(d, x, w, nil, kernels.ConvParams{Pad: 1, Groups: 1}) }},
		{"w_int", func() error { return be.Conv2D(d, x, e.typed(kernels.Int32, 8, 3, 3, 6), nil, p) }},
		{"nil_w", func() error { return be.Conv2D(d, x, nil, nil, p) }},
		{"nil_x", func() error { return be.Conv2D(d, nil, w, nil, p) }},
	})
}

func convRun(c *tc, cc convCase, dt kernels.DType, withBias bool) {
	c.Helper()
	cinG := cc.cin / cc.groups
	xh := c.randHost(cc.b, cc.h, cc.w, cc.cin)
	wh, wv := c.weight(dt, cc.cout, cc.kh, cc.kw, cinG)
	var bias *kernels.Tensor
	var bv []float64
	if withBias {
		var bh *kernels.Tensor
		bh, bv = c.weight(dt, cc.cout)
		bias = c.up(bh)
	}
	ho := (cc.h+2*cc.pad-cc.kh)/cc.stride + 1
	wo := (cc.w+2*cc.pad-cc.kw)/cc.stride + 1
	want, scale := convRef(cc, values(xh), wv, bv, ho, wo)
	dShape := []int{cc.b, ho, wo, cc.cout}
	dst, x, w := c.nan(dShape...), c.up(xh), c.up(wh)
	p := kernels.ConvParams{Stride: cc.stride, Pad: cc.pad, Groups: cc.groups}
	c.call("Conv2D", func() error { return c.be.Conv2D(dst, x, w, bias, p) })
	c.expect("Conv2D", dShape, c.downF32(dst), want, tols(want, scale, dotATol, c.dotRTol()))
}

// convRef is the direct NHWC/OHWI grouped convolution with zero padding;
// it returns the outputs and Σ|terms| of each.
func convRef(cc convCase, x, w, bias []float64, ho, wo int) (want, scale []float64) {
	cinG, coutG := cc.cin/cc.groups, cc.cout/cc.groups
	want = make([]float64, cc.b*ho*wo*cc.cout)
	scale = make([]float64, len(want))
	for b := range cc.b {
		for oy := range ho {
			for ox := range wo {
				for co := range cc.cout {
					g := co / coutG
					sum, abs := 0.0, 0.0
					if bias != nil {
						sum, abs = bias[co], math.Abs(bias[co])
					}
					for ky := range cc.kh {
						iy := oy*cc.stride - cc.pad + ky
						if iy < 0 || iy >= cc.h {
							continue
						}
						for kx := range cc.kw {
							ix := ox*cc.stride - cc.pad + kx
							if ix < 0 || ix >= cc.w {
								continue
							}
							xo := ((b*cc.h+iy)*cc.w+ix)*cc.cin + g*cinG
							woff := ((co*cc.kh+ky)*cc.kw + kx) * cinG
							for ci := range cinG {
								p := x[xo+ci] * w[woff+ci]
								sum += p
								abs += math.Abs(p)
							}
						}
					}
					i := ((b*ho+oy)*wo+ox)*cc.cout + co
					want[i], scale[i] = sum, abs
				}
			}
		}
	}
	return want, scale
}
