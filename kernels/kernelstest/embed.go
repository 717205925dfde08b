package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// posTensor returns positions as a host tensor of dtype dt (Int64/Int32).
func posTensor(pos []int64, dt kernels.DType, shape ...int) *kernels.Tensor {
	var t *kernels.Tensor
	var err error
	if dt == kernels.Int64 {
		t, err = kernels.FromI64(pos, shape...)
	} else {
		p32 := make([]int32, len(pos))
		for i, p := range pos {
			p32[i] = int32(p)
		}
		t, err = kernels.FromI32(p32, shape...)
	}
	if err != nil {
		panic(err)
	}
	return t
}

type ropeCase struct {
	b, t, h, dh int
	theta       float32
	perBatch    bool // pos [B, T] with random positions, else [T] = 0..T−1
}

func testRoPE(t *testing.T, be kernels.Backend) {
	cases := []ropeCase{
		{1, 1, 1, 2, 10000, false},
		{2, 7, 3, 8, 10000, false},
		{1, 17, 2, 64, 10000, true},
		{2, 5, 2, 256, 10000, true},
		{1, 33, 4, 32, 1e6, false},
		{3, 13, 1, 18, 10000, true},
	}
	for _, rc := range cases {
		for _, dt := range []kernels.DType{kernels.Int64, kernels.Int32} {
			name := label("B%d_T%d_H%d_Dh%d/theta=%g/perBatch=%v/%v", rc.b, rc.t, rc.h, rc.dh, rc.theta, rc.perBatch, dt)
			t.Run(name, func(t *testing.T) { ropeRun(begin(t, be), rc, dt) })
		}
	}
	e := newErrCtx(t, be)
	x, d := e.f(1, 4, 8), e.f(1, 4, 8)
	pos := e.up(posTensor([]int64{0, 1, 2, 3}, kernels.Int64, 4))
	p := kernels.RoPEParams{Heads: 2, Theta: 10000}
	expectErrors(t, "RoPE", []badCall{
		{"odd_head_dim", func() error { return be.RoPE(e.f(1, 4, 6), e.f(1, 4, 6), pos, p) }},
		{"heads_not_dividing", func() error { return be.RoPE(d, x, pos, kernels.RoPEParams{Heads: 3, Theta: 10000}) }},
		{"pos_len", func() error {
			return be.RoPE(d, x, e.up(posTensor([]int64{0, 1, 2}, kernels.Int64, 3)), p)
		}},
		{"pos_float", func() error { return be.RoPE(d, x, e.f(4), p) }},
		{"dst_shape", func() error { return be.RoPE(e.f(1, 4, 6), x, pos, p) }},
		{"nil_pos", func() error { return be.RoPE(d, x, nil, p) }},
	})
}

func ropeRun(c *tc, rc ropeCase, dt kernels.DType) {
	c.Helper()
	shape := []int{rc.b, rc.t, rc.h * rc.dh}
	xh := c.randHost(shape...)
	var ph *kernels.Tensor
	posOf := func(b, i int) int64 { return int64(i) }
	if rc.perBatch {
		pos := make([]int64, rc.b*rc.t)
		for i := range pos {
			pos[i] = int64(c.rng.IntN(300))
		}
		ph = posTensor(pos, dt, rc.b, rc.t)
		posOf = func(b, i int) int64 { return pos[b*rc.t+i] }
	} else {
		pos := make([]int64, rc.t)
		for i := range pos {
			pos[i] = int64(i)
		}
		ph = posTensor(pos, dt, rc.t)
	}
	xv := values(xh)
	want, tol := make([]float64, len(xv)), make([]float64, len(xv))
	half, w := rc.dh/2, rc.h*rc.dh
	for b := range rc.b {
		for i := range rc.t {
			for hd := range rc.h {
				o := (b*rc.t+i)*w + hd*rc.dh
				for k := range half {
					ang := float64(posOf(b, i)) * math.Pow(float64(rc.theta), -2*float64(k)/float64(rc.dh))
					x1, x2 := xv[o+k], xv[o+k+half]
					want[o+k] = x1*math.Cos(ang) - x2*math.Sin(ang)
					want[o+k+half] = x2*math.Cos(ang) + x1*math.Sin(ang)
					// float32 angles are off by ~|ang|·2⁻²¹ (rounded frequency
					// and product), which scales with the position.
					t := 1e-6 + (math.Abs(x1)+math.Abs(x2))*(2e-6+2e-6*math.Abs(ang))
					tol[o+k], tol[o+k+half] = t, t
				}
			}
		}
	}
	p := kernels.RoPEParams{Heads: rc.h, Theta: rc.theta}
	c.runElem("RoPE", shape, []*kernels.Tensor{xh, ph}, want, tol, 0,
		func(d *kernels.Tensor, in []*kernels.Tensor) error { return c.be.RoPE(d, in[0], in[1], p) })
}

func testEmbedding(t *testing.T, be kernels.Backend) {
	type embCase struct {
		v, d  int
		ids   []int
		scale float32
	}
	cases := []embCase{
		{1, 1, []int{1}, 1},
		{50, 33, []int{7}, 1},
		{50, 33, []int{2, 5}, 48},
		{300, 129, []int{3, 4}, 0.5},
	}
	for _, ec := range cases {
		for _, dt := range weightDTypes {
			for _, idt := range []kernels.DType{kernels.Int64, kernels.Int32} {
				name := label("V%d_D%d/ids%v/scale=%v/%v/%v", ec.v, ec.d, ec.ids, ec.scale, dt, idt)
				t.Run(name, func(t *testing.T) { embRun(begin(t, be), ec.v, ec.d, ec.ids, ec.scale, dt, idt) })
			}
		}
	}
	e := newErrCtx(t, be)
	table, d := e.f(10, 4), e.f(3, 4)
	ids := func(v ...int64) *kernels.Tensor { return e.up(posTensor(v, kernels.Int64, len(v))) }
	expectErrors(t, "Embedding", []badCall{
		{"id_equal_V", func() error { return be.Embedding(d, table, ids(0, 10, 2), 1) }},
		{"id_negative", func() error { return be.Embedding(d, table, ids(0, -1, 2), 1) }},
		{"id_huge", func() error { return be.Embedding(d, table, ids(1<<40, 0, 0), 1) }},
		{"id_out_of_range_int32", func() error {
			return be.Embedding(d, table, e.up(posTensor([]int64{0, 1, 11}, kernels.Int32, 3)), 1)
		}},
		{"table_rank1", func() error { return be.Embedding(d, e.f(40), ids(0, 1, 2), 1) }},
		{"dst_shape", func() error { return be.Embedding(e.f(3, 5), table, ids(0, 1, 2), 1) }},
		{"ids_float", func() error { return be.Embedding(d, table, e.f(3), 1) }},
		{"nil_table", func() error { return be.Embedding(d, nil, ids(0, 1, 2), 1) }},
	})
}

func embRun(c *tc, v, d int, idShape []int, scale float32, dt, idt kernels.DType) {
	c.Helper()
	th, tv := c.weight(dt, v, d)
	n := numel(idShape)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(c.rng.IntN(v))
	}
	ids[0], ids[n-1] = 0, int64(v-1)
	ih := posTensor(ids, idt, idShape...)
	shape := cat(idShape, d)
	want := make([]float64, n*d)
	for i, id := range ids {
		for j := range d {
			want[i*d+j] = tv[int(id)*d+j] * float64(scale)
		}
	}
	dst, table, idsDev := c.nan(shape...), c.up(th), c.up(ih)
	c.call("Embedding", func() error { return c.be.Embedding(dst, table, idsDev, scale) })
	c.expect("Embedding", shape, c.downF32(dst), want, tols(want, nil, elemATol, elemRTol))
}

// timestepRef follows diffusers' get_timestep_embedding: exponent =
// −ln(MaxPeriod)·k/(half − shift), arg = Scale·t·exp(exponent),
// [sin, cos] (or [cos, sin]), zero-padded when Dim is odd. It returns
// values and tolerances (float32 arguments are off by ~|arg|·2⁻²¹).
func timestepRef(ts []float64, p kernels.TimestepParams) (want, tol []float64) {
	half := p.Dim / 2
	maxPeriod, scale := float64(p.MaxPeriod), float64(p.Scale)
	if maxPeriod == 0 {
		maxPeriod = 10000
	}
	if scale == 0 {
		scale = 1
	}
	want, tol = make([]float64, len(ts)*p.Dim), make([]float64, len(ts)*p.Dim)
	for b, t := range ts {
		row := b * p.Dim
		for k := range half {
			f := math.Exp(-math.Log(maxPeriod) * float64(k) / (float64(half) - float64(p.DownscaleFreqShift)))
			arg := scale * t * f
			s, co := math.Sin(arg), math.Cos(arg)
			if p.FlipSinToCos {
				s, co = co, s
			}
			want[row+k], want[row+half+k] = s, co
			tl := 2e-6 + 2e-6*math.Abs(arg)
			tol[row+k], tol[row+half+k] = tl, tl
		}
		if p.Dim%2 == 1 {
			tol[row+p.Dim-1] = 0
		}
	}
	return want, tol
}

func testTimestepEmbedding(t *testing.T, be kernels.Backend) {
	cases := []struct {
		name string
		p    kernels.TimestepParams
	}{
		{"sana_256_flip", kernels.TimestepParams{Dim: 256, FlipSinToCos: true}},
		{"diffusers_default_320_shift1", kernels.TimestepParams{Dim: 320, DownscaleFreqShift: 1}},
		{"small_8_flip_shift1", kernels.TimestepParams{Dim: 8, FlipSinToCos: true, DownscaleFreqShift: 1}},
		{"max_period_1000", kernels.TimestepParams{Dim: 64, MaxPeriod: 1000, FlipSinToCos: true}},
		{"explicit_defaults", kernels.TimestepParams{Dim: 34, MaxPeriod: 10000, Scale: 1}},
		// diffusers multiplies the argument (emb = scale·t·f) before sin/cos.
		{"scale_multiplies_argument", kernels.TimestepParams{Dim: 16, Scale: 2, FlipSinToCos: true}},
	}
	for _, tcase := range cases {
		t.Run(tcase.name, func(t *testing.T) { timestepRun(begin(t, be), tcase.p, false) })
	}
	t.Run("odd_dim_zero_pad", func(t *testing.T) {
		timestepRun(begin(t, be), kernels.TimestepParams{Dim: 9, FlipSinToCos: true}, true)
	})
	e := newErrCtx(t, be)
	ts := e.f(3)
	expectErrors(t, "TimestepEmbedding", []badCall{
		{"dst_dim", func() error { return be.TimestepEmbedding(e.f(3, 10), ts, kernels.TimestepParams{Dim: 8}) }},
		{"dst_batch", func() error { return be.TimestepEmbedding(e.f(2, 8), ts, kernels.TimestepParams{Dim: 8}) }},
		{"t_rank2", func() error { return be.TimestepEmbedding(e.f(3, 8), e.f(3, 1), kernels.TimestepParams{Dim: 8}) }},
		{"zero_dim", func() error { return be.TimestepEmbedding(e.f(3, 0), ts, kernels.TimestepParams{}) }},
		{"nil_t", func() error { return be.TimestepEmbedding(e.f(3, 8), nil, kernels.TimestepParams{Dim: 8}) }},
	})
}

// timestepRun checks one parameter set; with oddOK a backend may instead
// reject the odd Dim (the op doc does not define it).
func timestepRun(c *tc, p kernels.TimestepParams, oddOK bool) {
	c.Helper()
	tv := []float32{0, 0.5, 1, 3.7, 250, 999, 500.25}
	want, tol := timestepRef(values(host(tv, len(tv))), p)
	shape := []int{len(tv), p.Dim}
	dst, tt := c.nan(shape...), c.up(host(tv, len(tv)))
	if oddOK {
		pan, err := safeCall(func() error { return c.be.TimestepEmbedding(dst, tt, p) })
		if pan != nil {
			c.Fatalf("TimestepEmbedding panicked: %v", pan)
		}
		if err != nil {
			c.Skipf("odd Dim rejected (allowed): %v", err)
		}
	} else {
		c.call("TimestepEmbedding", func() error { return c.be.TimestepEmbedding(dst, tt, p) })
	}
	c.expect(label("TimestepEmbedding %+v", p), shape, c.downF32(dst), want, tol)
}
