package kernelstest

import (
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

type catCase struct {
	name  string
	parts [][]int
	axis  int
}

var catCases = []catCase{
	{"last_axis", [][]int{{2, 3, 5}, {2, 3, 1}, {2, 3, 7}}, 2},
	{"first_axis", [][]int{{1, 4}, {3, 4}}, 0},
	{"middle_axis", [][]int{{2, 3, 5}, {2, 1, 5}, {2, 4, 5}}, 1},
	{"single", [][]int{{3, 3}}, 1},
	{"rank1", [][]int{{5}, {7}, {1}}, 0},
	{"channels_nhwc", [][]int{{1, 3, 4, 17}, {1, 3, 4, 33}}, 3},
}

// joined returns the concatenated shape and the host parts' values laid
// out as the concatenation.
func joined(cc catCase, parts []*kernels.Tensor) ([]int, []float64) {
	out := append([]int(nil), cc.parts[0]...)
	out[cc.axis] = 0
	for _, p := range cc.parts {
		out[cc.axis] += p[cc.axis]
	}
	outer := numel(out[:cc.axis])
	inner := numel(out[cc.axis+1:])
	var want []float64
	for o := range outer {
		for i, p := range parts {
			blk := cc.parts[i][cc.axis] * inner
			want = append(want, values(p)[o*blk:(o+1)*blk]...)
		}
	}
	return out, want
}

func testConcat(t *testing.T, be kernels.Backend) {
	for _, cc := range catCases {
		t.Run(cc.name, func(t *testing.T) {
			c := begin(t, be)
			hosts := make([]*kernels.Tensor, len(cc.parts))
			devs := make([]*kernels.Tensor, len(cc.parts))
			for i, s := range cc.parts {
				hosts[i] = c.randHost(s...)
				devs[i] = c.up(hosts[i])
			}
			out, want := joined(cc, hosts)
			dst := c.nan(out...)
			c.call("Concat", func() error { return be.Concat(dst, cc.axis, devs...) })
			c.expectExact("Concat", out, c.downF32(dst), want)
		})
	}
	e := newErrCtx(t, be)
	a, b := e.f(2, 3), e.f(2, 4)
	expectErrors(t, "Concat", []badCall{
		{"other_dim_mismatch", func() error { return be.Concat(e.f(5, 3), 0, e.f(2, 3), e.f(3, 4)) }},
		{"dst_axis_size", func() error { return be.Concat(e.f(2, 8), 1, a, b) }},
		{"axis_out_of_range", func() error { return be.Concat(e.f(2, 7), 2, a, b) }},
		{"rank_mismatch", func() error { return be.Concat(e.f(2, 7), 1, a, e.f(2, 4, 1)) }},
		{"no_srcs", func() error { return be.Concat(e.f(2, 7), 1) }},
		{"nil_src", func() error { return be.Concat(e.f(2, 7), 1, a, nil) }},
	})
}

func testSplit(t *testing.T, be kernels.Backend) {
	for _, cc := range catCases {
		t.Run(cc.name, func(t *testing.T) {
			c := begin(t, be)
			parts := make([]*kernels.Tensor, len(cc.parts))
			dsts := make([]*kernels.Tensor, len(cc.parts))
			for i, s := range cc.parts {
				parts[i] = c.randHost(s...)
				dsts[i] = c.nan(s...)
			}
			out, whole := joined(cc, parts)
			wf := make([]float32, len(whole))
			for i, v := range whole {
				wf[i] = float32(v)
			}
			src := c.up(host(wf, out...))
			c.call("Split", func() error { return be.Split(dsts, cc.axis, src) })
			for i, d := range dsts {
				c.expectExact(label("Split part %d", i), cc.parts[i], c.downF32(d), values(parts[i]))
			}
		})
	}
	e := newErrCtx(t, be)
	src := e.f(2, 7)
	expectErrors(t, "Split", []badCall{
		{"sizes_do_not_sum", func() error { return be.Split([]*kernels.Tensor{e.f(2, 3), e.f(2, 3)}, 1, src) }},
		{"other_dim_mismatch", func() error { return be.Split([]*kernels.Tensor{e.f(2, 3), e.f(1, 4)}, 1, src) }},
		{"axis_out_of_range", func() error { return be.Split([]*kernels.Tensor{e.f(2, 3), e.f(2, 4)}, 3, src) }},
		{"no_dsts", func() error { return be.Split(nil, 1, src) }},
		{"nil_dst", func() error { return be.Split([]*kernels.Tensor{e.f(2, 3), nil}, 1, src) }},
		{"nil_src", func() error { return be.Split([]*kernels.Tensor{e.f(2, 3), e.f(2, 4)}, 1, nil) }},
	})
}
