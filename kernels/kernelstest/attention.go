package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// Attention outputs are weighted averages of v: tolerances are relative to
// Σ p_j·|v_j| of each output.
const (
	attnATol = 1e-6
	attnRTol = 2e-5
)

type maskKind int

const (
	noMask   maskKind = iota
	keyMask           // [B, Tk]: 0 or −10000 per key (Sana's padding bias)
	fullMask          // [B, Tq, Tk]: arbitrary additive values
)

type attnCase struct {
	name            string
	b, tq, tk       int
	hq, hkv, dh     int
	causal          bool
	window          int
	softCap, scale  float32
	mask            maskKind
	qAmp            float64 // q magnitude (large values exercise the soft-cap)
	kvHeadsZeroIsHq bool    // pass KVHeads = 0 (meaning Heads)
}

var attnCases = []attnCase{
	{name: "single", b: 1, tq: 1, tk: 1, hq: 1, hkv: 1, dh: 1},
	{name: "mha_dh32", b: 2, tq: 17, tk: 17, hq: 4, hkv: 4, dh: 32},
	{name: "mha_kvheads_0", b: 1, tq: 7, tk: 7, hq: 3, hkv: 3, dh: 16, kvHeadsZeroIsHq: true},
	{name: "gqa_8_4", b: 1, tq: 13, tk: 13, hq: 8, hkv: 4, dh: 32},
	{name: "gqa_4_1_dh72", b: 2, tq: 9, tk: 9, hq: 4, hkv: 1, dh: 72},
	{name: "head_dim_7", b: 1, tq: 5, tk: 5, hq: 3, hkv: 3, dh: 7},
	{name: "causal", b: 2, tq: 17, tk: 17, hq: 4, hkv: 2, dh: 32, causal: true},
	{name: "sliding_window", b: 1, tq: 33, tk: 33, hq: 2, hkv: 1, dh: 16, causal: true, window: 5},
	{name: "softcap", b: 1, tq: 13, tk: 13, hq: 4, hkv: 2, dh: 32, softCap: 5, qAmp: 4},
	{name: "explicit_scale", b: 1, tq: 6, tk: 6, hq: 2, hkv: 2, dh: 32, scale: 0.3},
	{name: "mask_key_cross_dh72", b: 2, tq: 17, tk: 7, hq: 2, hkv: 2, dh: 72, mask: keyMask},
	{name: "mask_full_cross", b: 2, tq: 5, tk: 11, hq: 2, hkv: 1, dh: 8, mask: fullMask},
	{name: "cross_tq_gt_tk", b: 1, tq: 33, tk: 13, hq: 3, hkv: 3, dh: 32},
	{name: "one_query_many_keys", b: 1, tq: 1, tk: 65, hq: 2, hkv: 2, dh: 32},
	{name: "gemma_like", b: 1, tq: 9, tk: 9, hq: 2, hkv: 1, dh: 256, causal: true, window: 4,
		softCap: 50, scale: 1.0 / 16, mask: keyMask, qAmp: 8},
	// Causal with Tq ≠ Tk: the doc says key j is visible to query i when
	// j ≤ i (top-left aligned, like PyTorch's is_causal).
	{name: "causal_cross_tq_lt_tk", b: 1, tq: 5, tk: 9, hq: 2, hkv: 2, dh: 16, causal: true},
	{name: "causal_full_mask_softcap", b: 2, tq: 7, tk: 7, hq: 4, hkv: 1, dh: 13, causal: true,
		softCap: 3, mask: fullMask, qAmp: 3},
}

func testAttention(t *testing.T, be kernels.Backend) {
	for _, ac := range attnCases {
		t.Run(ac.name, func(t *testing.T) { attnRun(begin(t, be), ac) })
	}
	e := newErrCtx(t, be)
	q, kv, d := e.f(1, 4, 8), e.f(1, 5, 8), e.f(1, 4, 8)
	p := kernels.AttnParams{Heads: 2}
	expectErrors(t, "Attention", []badCall{
		{"heads_not_dividing", func() error { return be.Attention(d, q, kv, kv, nil, kernels.AttnParams{Heads: 3}) }},
		{"kvheads_not_dividing", func() error {
			return be.Attention(d, e.f(1, 4, 12), e.f(1, 5, 8), e.f(1, 5, 8), nil, kernels.AttnParams{Heads: 3, KVHeads: 2})
		}},
		{"k_v_len", func() error { return be.Attention(d, q, kv, e.f(1, 6, 8), nil, p) }},
		{"batch_mismatch", func() error { return be.Attention(d, q, e.f(2, 5, 8), e.f(2, 5, 8), nil, p) }},
		{"dst_shape", func() error { return be.Attention(e.f(1, 5, 8), q, kv, kv, nil, p) }},
		{"mask_shape", func() error { return be.Attention(d, q, kv, kv, e.f(1, 4), p) }},
		{"q_rank2", func() error { return be.Attention(e.f(4, 8), e.f(4, 8), kv, kv, nil, p) }},
		{"zero_heads", func() error { return be.Attention(d, q, kv, kv, nil, kernels.AttnParams{}) }},
		{"nil_k", func() error { return be.Attention(d, q, nil, kv, nil, p) }},
	})
}

// attnMask builds the additive mask for a case: −10000 entries never hide
// key 0 nor the diagonal key, so every row keeps a visible key.
func attnMask(c *tc, ac attnCase) *kernels.Tensor {
	switch ac.mask {
	case keyMask:
		m := make([]float32, ac.b*ac.tk)
		for i := range m {
			if i%ac.tk != 0 && c.rng.IntN(3) == 0 {
				m[i] = -10000
			}
		}
		return host(m, ac.b, ac.tk)
	case fullMask:
		m := c.uniform(ac.b*ac.tq*ac.tk, -2, 2)
		for i := range m {
			qi, j := (i/ac.tk)%ac.tq, i%ac.tk
			if j != 0 && j != qi && c.rng.IntN(4) == 0 {
				m[i] = -10000
			}
		}
		return host(m, ac.b, ac.tq, ac.tk)
	}
	return nil
}

func attnRun(c *tc, ac attnCase) {
	c.Helper()
	amp := ac.qAmp
	if amp == 0 {
		amp = 1
	}
	qh := host(c.uniform(ac.b*ac.tq*ac.hq*ac.dh, -amp, amp), ac.b, ac.tq, ac.hq*ac.dh)
	kh, vh := c.randHost(ac.b, ac.tk, ac.hkv*ac.dh), c.randHost(ac.b, ac.tk, ac.hkv*ac.dh)
	mh := attnMask(c, ac)
	qv, kv := values(qh), values(kh)
	want, scale := attnRef(ac, qv, kv, values(vh), mh)
	tol := tols(want, scale, attnATol, attnRTol)
	if c.prec == kernels.PrecisionBF16 {
		tol = attnBF16Tols(ac, qv, kv, scale)
	}
	p := kernels.AttnParams{Heads: ac.hq, KVHeads: ac.hkv, Scale: ac.scale, SoftCap: ac.softCap,
		Causal: ac.causal, Window: ac.window}
	if ac.kvHeadsZeroIsHq {
		p.KVHeads = 0
	}
	dShape := []int{ac.b, ac.tq, ac.hq * ac.dh}
	dst, q, k, v := c.nan(dShape...), c.up(qh), c.up(kh), c.up(vh)
	var mask *kernels.Tensor
	if mh != nil {
		mask = c.up(mh)
	}
	c.call("Attention", func() error { return c.be.Attention(dst, q, k, v, mask, p) })
	c.expect(label("Attention %+v", p), dShape, c.downF32(dst), want, tol)
}

// attnProbs returns the softmax probabilities of query i of head h over
// the keys (hidden keys get 0).
func attnProbs(ac attnCase, q, k []float64, mask *kernels.Tensor, b, h, i int) []float64 {
	kvh := h / (ac.hq / ac.hkv)
	scale := float64(ac.scale)
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(ac.dh))
	}
	s := make([]float64, ac.tk)
	visible := make([]bool, ac.tk)
	maxS := math.Inf(-1)
	for j := range ac.tk {
		if (ac.causal && j > i) || (ac.window > 0 && i-j >= ac.window) {
			continue
		}
		qo := (b*ac.tq+i)*ac.hq*ac.dh + h*ac.dh
		ko := (b*ac.tk+j)*ac.hkv*ac.dh + kvh*ac.dh
		dot := 0.0
		for d := range ac.dh {
			dot += q[qo+d] * k[ko+d]
		}
		x := dot * scale
		if ac.softCap > 0 {
			x = float64(ac.softCap) * math.Tanh(x/float64(ac.softCap))
		}
		switch ac.mask {
		case keyMask:
			x += mask.At(b*ac.tk + j)
		case fullMask:
			x += mask.At((b*ac.tq+i)*ac.tk + j)
		}
		s[j], visible[j] = x, true
		maxS = math.Max(maxS, x)
	}
	sum := 0.0
	for j := range s {
		if visible[j] {
			s[j] = math.Exp(s[j] - maxS)
			sum += s[j]
		}
	}
	for j := range s {
		s[j] /= sum
	}
	return s
}

func attnRef(ac attnCase, q, k, v []float64, mask *kernels.Tensor) (want, scale []float64) {
	want = make([]float64, ac.b*ac.tq*ac.hq*ac.dh)
	scale = make([]float64, len(want))
	kvh := func(h int) int { return h / (ac.hq / ac.hkv) }
	for b := range ac.b {
		for h := range ac.hq {
			for i := range ac.tq {
				p := attnProbs(ac, q, k, mask, b, h, i)
				oo := (b*ac.tq+i)*ac.hq*ac.dh + h*ac.dh
				for j, pj := range p {
					vo := (b*ac.tk+j)*ac.hkv*ac.dh + kvh(h)*ac.dh
					for d := range ac.dh {
						want[oo+d] += pj * v[vo+d]
						scale[oo+d] += pj * math.Abs(v[vo+d])
					}
				}
			}
		}
	}
	return want, scale
}

func testLinearAttention(t *testing.T, be kernels.Backend) {
	cases := []struct{ b, n, h, dh int }{{1, 1, 1, 1}, {2, 17, 4, 32}, {1, 64, 2, 32}, {1, 33, 3, 7}, {2, 256, 2, 32}, {1, 5, 1, 13}}
	for _, s := range cases {
		for _, eps := range []float32{1e-15, 1e-8} {
			t.Run(label("B%d_N%d_H%d_Dh%d/eps=%g", s.b, s.n, s.h, s.dh, eps), func(t *testing.T) {
				linAttnRun(begin(t, be), s.b, s.n, s.h, s.dh, eps, kernels.Float32, kernels.Float32)
			})
		}
	}
	for _, s := range cases[1:3] {
		for _, md := range actModes {
			t.Run(label("bf16_act/B%d_N%d_H%d_Dh%d/in=%v/dst=%v", s.b, s.n, s.h, s.dh, md.in, md.out), func(t *testing.T) {
				linAttnRun(begin(t, be), s.b, s.n, s.h, s.dh, 1e-15, md.in, md.out)
			})
		}
	}
	e := newErrCtx(t, be)
	q, d := e.f(1, 4, 8), e.f(1, 4, 8)
	p := kernels.LinAttnParams{Heads: 2, Eps: 1e-15}
	expectErrors(t, "LinearAttention", []badCall{
		{"heads_not_dividing", func() error { return be.LinearAttention(d, q, q, q, kernels.LinAttnParams{Heads: 3}) }},
		{"k_shape", func() error { return be.LinearAttention(d, q, e.f(1, 5, 8), q, p) }},
		{"v_shape", func() error { return be.LinearAttention(d, q, q, e.f(1, 4, 6), p) }},
		{"dst_shape", func() error { return be.LinearAttention(e.f(1, 4, 6), q, q, q, p) }},
		{"zero_heads", func() error { return be.LinearAttention(d, q, q, q, kernels.LinAttnParams{}) }},
		{"nil_v", func() error { return be.LinearAttention(d, q, q, nil, p) }},
		{"mixed_dtypes", func() error { return be.LinearAttention(d, q, e.typed(kernels.BFloat16, 1, 4, 8), q, p) }},
		{"dst_f16", func() error { return be.LinearAttention(e.typed(kernels.Float16, 1, 4, 8), q, q, q, p) }},
	})
}

// linAttnRun checks one shape with q, k, v of dtype in and dst of dtype
// out (bf16 activations: exact inputs, one rounding on store).
func linAttnRun(c *tc, b, n, h, dh int, eps float32, in, out kernels.DType) {
	c.Helper()
	shape := []int{b, n, h * dh}
	qh, kh, vh := c.randHost(shape...), c.randHost(shape...), c.randHost(shape...)
	// Token 0 of head 0 has an all-negative q: ReLU zeroes it and the
	// output must be 0/(0+eps) = 0, not NaN.
	for d := range dh {
		qh.F32()[d] = -float32(d+1) / float32(dh)
	}
	if in == kernels.BFloat16 {
		for _, t := range []**kernels.Tensor{&qh, &kh, &vh} {
			var err error
			if *t, err = (*t).ToHalf(in); err != nil {
				c.Fatal(err)
			}
		}
	}
	want, scale := linAttnRef(values(qh), values(kh), values(vh), b, n, h, dh, float64(eps))
	dst, q, k, v := c.actOutput(out, shape...), c.up(qh), c.up(kh), c.up(vh)
	p := kernels.LinAttnParams{Heads: h, Eps: eps}
	c.call("LinearAttention", func() error { return c.be.LinearAttention(dst, q, k, v, p) })
	tol := actTols(tols(want, scale, attnATol, c.linAttnRTol()), want, out)
	c.expect("LinearAttention", shape, c.actResult(dst), want, tol)
}

func relu(x float64) float64 { return math.Max(x, 0) }

// linAttnRef computes o_n = Σ_m v_m (k_m·q_n) / (Σ_m k_m·q_n + eps) per
// head with ReLU'd q and k; scale is Σ_m |v_m| (k_m·q_n) / den.
func linAttnRef(q, k, v []float64, b, n, h, dh int, eps float64) (want, scale []float64) {
	want = make([]float64, len(q))
	scale = make([]float64, len(q))
	c := h * dh
	for bi := range b {
		for hi := range h {
			for i := range n {
				qo := (bi*n+i)*c + hi*dh
				den := eps
				kq := make([]float64, n)
				for m := range n {
					ko := (bi*n+m)*c + hi*dh
					for e := range dh {
						kq[m] += relu(k[ko+e]) * relu(q[qo+e])
					}
					den += kq[m]
				}
				for m := range n {
					vo := (bi*n+m)*c + hi*dh
					for d := range dh {
						want[qo+d] += v[vo+d] * kq[m] / den
						scale[qo+d] += math.Abs(v[vo+d]) * kq[m] / den
					}
				}
			}
		}
	}
	return want, scale
}
