package kernels

// AttnDims are the sizes of a validated Attention.
type AttnDims struct {
	B, Tq, Tk   int
	Hq, Hkv, Dh int
	// MaskPerQuery is true for a [B, Tq, Tk] mask, false for [B, Tk] (or
	// no mask).
	MaskPerQuery bool
}

// CheckAttention validates Attention: q [B, Tq, Hq·Dh], k and v [B, Tk,
// Hkv·Dh], dst [B, Tq, Hq·Dh], optional Float32 mask [B, Tk] or
// [B, Tq, Tk]; Hq must be a multiple of Hkv.
func CheckAttention(dst, q, k, v, mask *Tensor, p AttnParams) (AttnDims, error) {
	c := checker{op: "attention"}
	for _, a := range []struct {
		name string
		t    *Tensor
	}{{"dst", dst}, {"q", q}, {"k", k}, {"v", v}} {
		c.f32(a.name, a.t)
		c.rank(a.name, a.t, 3)
	}
	hkv := p.KVHeads
	if hkv == 0 {
		hkv = p.Heads
	}
	if c.ok() && (p.Heads < 1 || hkv < 1 || p.Heads%hkv != 0 || p.Window < 0 || p.SoftCap < 0) {
		c.fail("bad params heads=%d kv heads=%d window=%d softcap=%g", p.Heads, p.KVHeads, p.Window, p.SoftCap)
	}
	if !c.ok() {
		return AttnDims{}, c.err
	}
	d := AttnDims{B: q.shape[0], Tq: q.shape[1], Tk: k.shape[1], Hq: p.Heads, Hkv: hkv}
	if q.shape[2]%p.Heads != 0 {
		c.fail("q %v: channels not divisible by %d heads", q, p.Heads)
		return AttnDims{}, c.err
	}
	d.Dh = q.shape[2] / p.Heads
	c.shape("k", k, d.B, d.Tk, hkv*d.Dh)
	c.shape("v", v, d.B, d.Tk, hkv*d.Dh)
	c.shape("dst", dst, d.B, d.Tq, p.Heads*d.Dh)
	if mask != nil {
		c.f32("mask", mask)
		if c.ok() {
			switch {
			case mask.Rank() == 2 && mask.shape[0] == d.B && mask.shape[1] == d.Tk:
			case mask.Rank() == 3 && mask.shape[0] == d.B && mask.shape[1] == d.Tq && mask.shape[2] == d.Tk:
				d.MaskPerQuery = true
			default:
				c.fail("q %v, k %v and mask %v: mask must be [%d %d] or [%d %d %d]", q, k, mask, d.B, d.Tk, d.B, d.Tq, d.Tk)
			}
		}
	}
	for _, a := range []struct {
		name string
		t    *Tensor
	}{{"q", q}, {"k", k}, {"v", v}, {"mask", mask}} {
		c.noOverlap("dst", dst, a.name, a.t)
	}
	return d, c.err
}

// CheckLinearAttention validates LinearAttention: q, k, v, dst all
// [B, N, H·Dh], no aliasing of dst.
func CheckLinearAttention(dst, q, k, v *Tensor, p LinAttnParams) (b, n, h, dh int, err error) {
	c := checker{op: "linear attention"}
	c.act("dst", dst)
	c.act("q", q)
	c.act("k", k)
	c.act("v", v)
	if c.ok() && (k.dtype != q.dtype || v.dtype != q.dtype) {
		c.fail("q %v, k %v, v %v: want one dtype", q, k, v)
	}
	c.rank("q", q, 3)
	if c.ok() && (p.Heads < 1 || q.shape[2]%p.Heads != 0) {
		c.fail("q %v: channels not divisible by %d heads", q, p.Heads)
	}
	if !c.ok() {
		return 0, 0, 0, 0, c.err
	}
	c.shape("k", k, q.shape...)
	c.shape("v", v, q.shape...)
	c.shape("dst", dst, q.shape...)
	c.noOverlap("dst", dst, "q", q)
	c.noOverlap("dst", dst, "k", k)
	c.noOverlap("dst", dst, "v", v)
	if !c.ok() {
		return 0, 0, 0, 0, c.err
	}
	return q.shape[0], q.shape[1], p.Heads, q.shape[2] / p.Heads, nil
}

// CheckRoPE validates RoPE: x [B, T, H·Dh] with even Dh, dst like x (may be
// x), pos Int64/Int32 [B, T] or [T]. posBatched reports a [B, T] pos.
func CheckRoPE(dst, x, pos *Tensor, p RoPEParams) (b, t, h, dh int, posBatched bool, err error) {
	c := checker{op: "rope"}
	c.f32("dst", dst)
	c.f32("x", x)
	c.index("pos", pos)
	c.rank("x", x, 3)
	if c.ok() && (p.Heads < 1 || x.shape[2]%p.Heads != 0 || (x.shape[2]/p.Heads)%2 != 0) {
		c.fail("x %v: channels must split into %d heads of even size", x, p.Heads)
	}
	if c.ok() && !(p.Theta > 0) {
		c.fail("theta %g must be positive", p.Theta)
	}
	if !c.ok() {
		return 0, 0, 0, 0, false, c.err
	}
	b, t, h, dh = x.shape[0], x.shape[1], p.Heads, x.shape[2]/p.Heads
	c.shape("dst", dst, x.shape...)
	c.sameOrDisjoint("dst", dst, "x", x)
	if c.ok() {
		switch {
		case pos.Rank() == 2 && pos.shape[0] == b && pos.shape[1] == t:
			posBatched = true
		case pos.Rank() == 1 && pos.shape[0] == t:
		default:
			c.fail("x %v and pos %v: pos must be [%d %d] or [%d]", x, pos, b, t, t)
		}
	}
	return b, t, h, dh, posBatched, c.err
}

// CheckEmbedding validates Embedding: table [V, D] (any float dtype), ids
// (Int64/Int32) of any shape, dst [ids..., D]. Id ranges are checked by the
// kernel, which reads them anyway.
func CheckEmbedding(dst, table, ids *Tensor) (n, vocab, d int, err error) {
	c := checker{op: "embedding"}
	c.f32("dst", dst)
	c.float("table", table)
	c.index("ids", ids)
	c.rank("table", table, 2)
	if !c.ok() {
		return 0, 0, 0, c.err
	}
	vocab, d = table.shape[0], table.shape[1]
	want := append(append([]int(nil), ids.shape...), d)
	c.shape("dst", dst, want...)
	c.noOverlap("dst", dst, "table", table)
	return ids.Len(), vocab, d, c.err
}

// CheckTimestepEmbedding validates TimestepEmbedding: t [B] of any dtype
// (float or integer timesteps), dst [B, Dim] with Dim ≥ 2.
func CheckTimestepEmbedding(dst, t *Tensor, p TimestepParams) (b int, err error) {
	c := checker{op: "timestep embedding"}
	c.f32("dst", dst)
	c.present("t", t)
	c.rank("t", t, 1)
	if c.ok() && p.Dim < 2 {
		c.fail("dim %d must be at least 2", p.Dim)
	}
	if c.ok() && float32(p.Dim/2) == p.DownscaleFreqShift {
		c.fail("downscale freq shift %g equals half dim", p.DownscaleFreqShift)
	}
	if !c.ok() {
		return 0, c.err
	}
	c.shape("dst", dst, t.shape[0], p.Dim)
	c.noOverlap("dst", dst, "t", t)
	return t.shape[0], c.err
}
