package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// runLayout runs a data-movement op out of place and checks it is exact.
func (c *tc) runLayout(op string, in *kernels.Tensor, outShape []int, want []float64,
	f func(dst, x *kernels.Tensor) error) {
	c.Helper()
	dst, x := c.nan(outShape...), c.up(in)
	c.call(op, func() error { return f(dst, x) })
	c.expectExact(op, outShape, c.downF32(dst), want)
}

type shuffleCase struct{ b, h, w, c, r int }

var shuffleCases = []shuffleCase{{1, 1, 1, 1, 2}, {2, 3, 5, 4, 2}, {1, 4, 3, 7, 3}, {1, 2, 3, 5, 1}, {2, 5, 7, 8, 2}}

func testPixelShuffle(t *testing.T, be kernels.Backend) {
	for _, s := range shuffleCases {
		t.Run(label("B%d_H%d_W%d_C%d_r%d", s.b, s.h, s.w, s.c, s.r), func(t *testing.T) {
			c := begin(t, be)
			r := s.r
			xh := c.randHost(s.b, s.h, s.w, s.c*r*r)
			xv := values(xh)
			out := []int{s.b, s.h * r, s.w * r, s.c}
			want := make([]float64, len(xv))
			for b := range s.b {
				for i := range s.h {
					for j := range s.w {
						for ch := range s.c {
							for a := range r {
								for bb := range r {
									src := ((b*s.h+i)*s.w+j)*s.c*r*r + ch*r*r + a*r + bb
									dst := ((b*s.h*r+r*i+a)*s.w*r+r*j+bb)*s.c + ch
									want[dst] = xv[src]
								}
							}
						}
					}
				}
			}
			c.runLayout("PixelShuffle", xh, out, want, func(d, x *kernels.Tensor) error { return be.PixelShuffle(d, x, r) })
		})
	}
	e := newErrCtx(t, be)
	expectErrors(t, "PixelShuffle", []badCall{
		{"channels_not_divisible", func() error { return be.PixelShuffle(e.f(1, 4, 4, 1), e.f(1, 2, 2, 6), 2) }},
		{"dst_shape", func() error { return be.PixelShuffle(e.f(1, 4, 2, 2), e.f(1, 2, 2, 8), 2) }},
		{"r0", func() error { return be.PixelShuffle(e.f(1, 2, 2, 8), e.f(1, 2, 2, 8), 0) }},
		{"rank3", func() error { return be.PixelShuffle(e.f(4, 4, 2), e.f(2, 2, 8), 2) }},
		{"nil_x", func() error { return be.PixelShuffle(e.f(1, 4, 4, 2), nil, 2) }},
	})
}

func testPixelUnshuffle(t *testing.T, be kernels.Backend) {
	for _, s := range shuffleCases {
		t.Run(label("B%d_H%d_W%d_C%d_r%d", s.b, s.h, s.w, s.c, s.r), func(t *testing.T) {
			c := begin(t, be)
			r := s.r
			xh := c.randHost(s.b, s.h*r, s.w*r, s.c)
			xv := values(xh)
			out := []int{s.b, s.h, s.w, s.c * r * r}
			want := make([]float64, len(xv))
			for b := range s.b {
				for i := range s.h {
					for j := range s.w {
						for ch := range s.c {
							for a := range r {
								for bb := range r {
									dst := ((b*s.h+i)*s.w+j)*s.c*r*r + ch*r*r + a*r + bb
									src := ((b*s.h*r+r*i+a)*s.w*r+r*j+bb)*s.c + ch
									want[dst] = xv[src]
								}
							}
						}
					}
				}
			}
			c.runLayout("PixelUnshuffle", xh, out, want, func(d, x *kernels.Tensor) error { return be.PixelUnshuffle(d, x, r) })
		})
	}
	e := newErrCtx(t, be)
	expectErrors(t, "PixelUnshuffle", []badCall{
		{"odd_height", func() error { return be.PixelUnshuffle(e.f(1, 1, 2, 8), e.f(1, 3, 4, 2), 2) }},
		{"dst_shape", func() error { return be.PixelUnshuffle(e.f(1, 2, 2, 4), e.f(1, 4, 4, 2), 2) }},
		{"r0", func() error { return be.PixelUnshuffle(e.f(1, 4, 4, 2), e.f(1, 4, 4, 2), 0) }},
		{"nil_dst", func() error { return be.PixelUnshuffle(nil, e.f(1, 4, 4, 2), 2) }},
	})
}

func testUpsampleNearest2x(t *testing.T, be kernels.Backend) {
	for _, s := range [][4]int{{1, 1, 1, 1}, {2, 3, 5, 7}, {1, 4, 1, 33}, {1, 6, 9, 16}} {
		t.Run(label("%v", s), func(t *testing.T) {
			c := begin(t, be)
			nb, h, w, ch := s[0], s[1], s[2], s[3]
			xh := c.randHost(nb, h, w, ch)
			xv := values(xh)
			out := []int{nb, 2 * h, 2 * w, ch}
			want := make([]float64, numel(out))
			for i := range want {
				idx := unravel(i, out)
				want[i] = xv[((idx[0]*h+idx[1]/2)*w+idx[2]/2)*ch+idx[3]]
			}
			c.runLayout("UpsampleNearest2x", xh, out, want, be.UpsampleNearest2x)
		})
	}
	e := newErrCtx(t, be)
	expectErrors(t, "UpsampleNearest2x", []badCall{
		{"dst_shape", func() error { return be.UpsampleNearest2x(e.f(1, 4, 5, 2), e.f(1, 2, 2, 2)) }},
		{"dst_channels", func() error { return be.UpsampleNearest2x(e.f(1, 4, 4, 3), e.f(1, 2, 2, 2)) }},
		{"rank3", func() error { return be.UpsampleNearest2x(e.f(4, 4, 2), e.f(2, 2, 2)) }},
		{"nil_x", func() error { return be.UpsampleNearest2x(e.f(1, 4, 4, 2), nil) }},
	})
}

func testRepeatChannels(t *testing.T, be kernels.Backend) {
	cases := []struct {
		shape []int
		r     int
	}{{[]int{1, 1}, 2}, {[]int{2, 3, 5, 7}, 2}, {[]int{4, 13}, 4}, {[]int{3, 6}, 1}, {[]int{2, 2, 9}, 3}}
	for _, rc := range cases {
		t.Run(label("%v/r%d", rc.shape, rc.r), func(t *testing.T) {
			c := begin(t, be)
			xh := c.randHost(rc.shape...)
			xv := values(xh)
			ch := rc.shape[len(rc.shape)-1]
			out := cat(rc.shape[:len(rc.shape)-1], ch*rc.r)
			want := make([]float64, numel(out))
			for i := range want {
				row, k := i/(ch*rc.r), i%(ch*rc.r)
				want[i] = xv[row*ch+k/rc.r]
			}
			c.runLayout("RepeatChannels", xh, out, want,
				func(d, x *kernels.Tensor) error { return be.RepeatChannels(d, x, rc.r) })
		})
	}
	e := newErrCtx(t, be)
	expectErrors(t, "RepeatChannels", []badCall{
		{"dst_channels", func() error { return be.RepeatChannels(e.f(2, 7), e.f(2, 3), 2) }},
		{"dst_rows", func() error { return be.RepeatChannels(e.f(3, 6), e.f(2, 3), 2) }},
		{"r0", func() error { return be.RepeatChannels(e.f(2, 3), e.f(2, 3), 0) }},
		{"nil_x", func() error { return be.RepeatChannels(e.f(2, 6), nil, 2) }},
	})
}

func testTranspose(t *testing.T, be kernels.Backend) {
	for _, shape := range [][]int{{1, 1}, {1, 7}, {33, 65}, {3, 17, 129}, {2, 3, 5, 4}, {1, 64, 64}} {
		t.Run(label("%v", shape), func(t *testing.T) {
			c := begin(t, be)
			xh := c.randHost(shape...)
			xv := values(xh)
			r := len(shape)
			m, n := shape[r-2], shape[r-1]
			out := cat(shape[:r-2], n, m)
			want := make([]float64, len(xv))
			for i := range want {
				bi, jn, im := i/(m*n), (i/m)%n, i%m
				want[i] = xv[bi*m*n+im*n+jn]
			}
			c.runLayout("Transpose", xh, out, want, be.Transpose)
		})
	}
	e := newErrCtx(t, be)
	expectErrors(t, "Transpose", []badCall{
		{"dst_shape", func() error { return be.Transpose(e.f(2, 3), e.f(2, 3)) }},
		{"rank1", func() error { return be.Transpose(e.f(5), e.f(5)) }},
		{"batch_mismatch", func() error { return be.Transpose(e.f(3, 4, 2), e.f(2, 2, 4)) }},
		{"nil_x", func() error { return be.Transpose(e.f(3, 2), nil) }},
	})
}

func testReduce(t *testing.T, be kernels.Backend) {
	ops := []struct {
		name string
		op   kernels.ReduceOp
	}{{"sum", kernels.ReduceSum}, {"mean", kernels.ReduceMean}, {"max", kernels.ReduceMax}}
	for _, o := range ops {
		for _, shape := range [][]int{{1, 1}, {7}, {3, 17}, {2, 5, 129}, {4, 300}, {2, 3, 4, 1}} {
			t.Run(label("%s/%v", o.name, shape), func(t *testing.T) {
				c := begin(t, be)
				xh := host(c.uniform(numel(shape), -3, 1), shape...)
				xv := values(xh)
				last := shape[len(shape)-1]
				out := shape[:len(shape)-1]
				want, scale := make([]float64, numel(out)), make([]float64, numel(out))
				for i := range want {
					row := xv[i*last : (i+1)*last]
					want[i] = math.Inf(-1)
					if o.op != kernels.ReduceMax {
						want[i] = 0
					}
					for _, v := range row {
						switch o.op {
						case kernels.ReduceMax:
							want[i] = math.Max(want[i], v)
						default:
							want[i] += v
							scale[i] += math.Abs(v)
						}
					}
					if o.op == kernels.ReduceMean {
						want[i] /= float64(last)
						scale[i] /= float64(last)
					}
				}
				dst, x := c.nan(out...), c.up(xh)
				c.call("Reduce", func() error { return be.Reduce(dst, x, o.op) })
				c.expect("Reduce "+o.name, out, c.downF32(dst), want, tols(want, scale, 0, dotRTol))
			})
		}
	}
	e := newErrCtx(t, be)
	expectErrors(t, "Reduce", []badCall{
		{"dst_shape", func() error { return be.Reduce(e.f(3, 1), e.f(3, 5), kernels.ReduceSum) }},
		{"dst_rows", func() error { return be.Reduce(e.f(4), e.f(3, 5), kernels.ReduceMean) }},
		{"bad_op", func() error { return be.Reduce(e.f(3), e.f(3, 5), kernels.ReduceOp(0)) }},
		{"nil_x", func() error { return be.Reduce(e.f(3), nil, kernels.ReduceMax) }},
	})
}
