package dit

import "github.com/sanafarm/sanafarm/kernels"

// modulation splits sst [6, D] + tmod [B, 6D] into six [B, D] tensors:
// shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
func (m *Model) modulation(r *run, sst, tmod *kernels.Tensor) [6]*kernels.Tensor {
	B, D := tmod.Dim(0), m.cfg.Dim()
	all := r.alloc(B, 6, D)
	r.do(func() error { return m.be.Add(all, tmod.MustReshape(B, 6, D), sst) })
	var parts [6]*kernels.Tensor
	dsts := make([]*kernels.Tensor, 6)
	for k := range parts {
		dsts[k] = r.alloc(B, 1, D)
	}
	r.do(func() error { return m.be.Split(dsts, 1, all) })
	for k := range parts {
		if dsts[k] != nil {
			parts[k] = dsts[k].MustReshape(B, D)
		}
	}
	return parts
}

// block runs transformer block i in place on hid [B, N, D].
func (m *Model) block(r *run, i int, hid, tmod *kernels.Tensor, cd *Cond, h, w int) {
	bl := &m.w.blocks[i]
	mod := m.modulation(r, bl.sst, tmod)
	eps := float32(m.cfg.NormEps)
	B, N, D := hid.Dim(0), hid.Dim(1), hid.Dim(2)

	a := r.allocDT(m.normActDType(bl), B, N, D)
	r.do(func() error { return m.be.LayerNormModulate(a, hid, mod[0], mod[1], eps) })
	att := m.selfAttention(r, bl, a, cd.perturbed(i))
	r.do(func() error { return m.be.GatedAdd(hid, hid, mod[2], att) })
	if r.err != nil {
		return // later stages would work on the nil tensors of skipped allocations
	}

	cross := m.crossAttention(r, bl, hid, cd, i)
	r.do(func() error { return m.be.Add(hid, hid, cross) })
	if r.err != nil {
		return
	}

	var ff *kernels.Tensor
	if m.sp() {
		ff = m.mixFFNBands(r, bl, hid, a, mod, h, w)
	} else {
		f := a // reuse: the self-attention input is dead here
		r.do(func() error { return m.be.LayerNormModulate(f, hid, mod[3], mod[4], eps) })
		ff = m.mixFFN(r, bl, f, h, w)
	}
	r.do(func() error { return m.be.GatedAdd(hid, hid, mod[5], ff) })
}

// selfAttention is attn1: ReLU linear attention over the image tokens.
// Under tensor parallelism this rank holds a slice of the heads and its
// output projection is the partial sum over them (all-reduced by
// project); under sequence parallelism the K·V state is summed over the
// bands (linAttnBands). The last pert samples (PAG's perturbed branch,
// Cond.WithPAG) get identity attention: their output is V itself.
func (m *Model) selfAttention(r *run, bl *block, a *kernels.Tensor, pert int) *kernels.Tensor {
	B, N, D, Dl := a.Dim(0), a.Dim(1), a.Dim(2), m.localDim()
	adt := m.attnActDType(bl)
	q, k, v := r.allocDT(adt, B, N, Dl), r.allocDT(adt, B, N, Dl), r.allocDT(adt, B, N, Dl)
	o := r.allocDT(adt, B, N, Dl)
	if m.sp() {
		m.linAttnBands(r, bl, o, a, q, k, v)
	} else {
		r.linear(q, a, bl.q1)
		r.linear(k, a, bl.k1)
		var finish func()
		if bl.nq1 != nil && pert == 0 { // diffusers' PAG processors skip norm_q/norm_k in PAG blocks
			finish = m.qkNorm(r, []*kernels.Tensor{q, k}, []*kernels.Tensor{bl.nq1, bl.nk1})
		}
		r.linear(v, a, bl.v1) // overlaps the qk-norm all-reduce
		if finish != nil {
			finish()
		}
		m.linAttnPAG(r, o, q, k, v, pert)
	}
	out := q // q is dead after the attention
	if Dl != D || adt != kernels.Float32 {
		out = r.alloc(B, N, D)
	}
	m.project(r, out, o, bl.o1)
	return out
}

// attnActDType is the dtype of attn1's q, k, v and output o: bf16 in the
// bf16 mode when the four projections are bf16 and q, k, v carry no
// unfused LoRA (whose delta is added in float32) and no q/k RMSNorm
// (float32 only) — the GEMMs then write them directly as bf16 and the
// linear attention reads and writes half the bytes; float32 otherwise
// (and always under sequence parallelism, whose bands use other kernels).
func (m *Model) attnActDType(bl *block) kernels.DType {
	if kernels.PrecisionOf(m.be) != kernels.PrecisionBF16 || m.sp() || bl.nq1 != nil || bl.nk1 != nil {
		return kernels.Float32
	}
	for _, l := range []linear{bl.q1, bl.k1, bl.v1, bl.o1} {
		if l.w == nil || l.w.DType() != kernels.BFloat16 {
			return kernels.Float32
		}
	}
	if len(bl.q1.lora)+len(bl.k1.lora)+len(bl.v1.lora) > 0 {
		return kernels.Float32
	}
	return kernels.BFloat16
}

// linAttnPAG is ReLU linear attention on the first B−pert samples (it is
// per sample, so the split changes nothing) and o = v on the last pert.
func (m *Model) linAttnPAG(r *run, o, q, k, v *kernels.Tensor, pert int) {
	B := o.Dim(0)
	p := kernels.LinAttnParams{Heads: m.heads(), Eps: 1e-15}
	if pert == 0 {
		r.do(func() error { return m.be.LinearAttention(o, q, k, v, p) })
		return
	}
	rows := func(t *kernels.Tensor, from, to int) *kernels.Tensor {
		if r.err != nil {
			return nil
		}
		s, err := t.Slice(from, to)
		r.err = err
		return s
	}
	if n := B - pert; n > 0 {
		oa, qs, ks, vs := rows(o, 0, n), rows(q, 0, n), rows(k, 0, n), rows(v, 0, n)
		r.do(func() error { return m.be.LinearAttention(oa, qs, ks, vs, p) })
	}
	op, vp := rows(o, B-pert, B), rows(v, B-pert, B)
	r.do(func() error { return m.be.Copy(op, vp) })
}

// crossAttention is attn2: softmax attention from image tokens to the
// cached caption keys/values of block i, with the padding bias.
func (m *Model) crossAttention(r *run, bl *block, hid *kernels.Tensor, cd *Cond, i int) *kernels.Tensor {
	B, N, D, Dl := hid.Dim(0), hid.Dim(1), hid.Dim(2), m.localDim()
	q := r.alloc(B, N, Dl)
	r.linear(q, hid, bl.q2)
	if bl.nq2 != nil {
		m.qkNorm(r, []*kernels.Tensor{q}, []*kernels.Tensor{bl.nq2})()
	}
	o := r.alloc(B, N, Dl)
	r.do(func() error {
		return m.be.Attention(o, q, cd.k[i], cd.v[i], cd.mask, kernels.AttnParams{Heads: m.crossHeads()})
	})
	out := q
	if Dl != D {
		out = r.alloc(B, N, D)
	}
	m.project(r, out, o, bl.o2)
	return out
}

// mixFFN is GLUMBConv: 1×1 expand, SiLU, depthwise 3×3 on the (h, w)
// grid, value ⊙ SiLU(gate), 1×1 project (no bias). Under tensor
// parallelism this rank holds H/d value and gate channels; under sequence
// parallelism mixFFNBands supplies the conv's halo rows.
func (m *Model) mixFFN(r *run, bl *block, f *kernels.Tensor, h, w int) *kernels.Tensor {
	B, N, D, H := f.Dim(0), f.Dim(1), f.Dim(2), bl.ffOut.w.Dim(1)
	act := m.ffnActDType(bl)
	u := r.allocDT(act, B, N, 2*H)
	in := bl.ffIn
	in.b = nil // added by the fused op, one pass fewer over u
	r.linear(u, f, in)
	g := r.allocDT(act, B, h, w, H)
	r.do(func() error {
		return m.be.MixFFNConv(g, u.MustReshape(B, h, w, 2*H), bl.ffIn.b, bl.ffDepthW, bl.ffDepthB)
	})
	out := r.alloc(B, N, D)
	m.project(r, out, g.MustReshape(B, N, H), bl.ffOut)
	return out
}

// ffnActDType is the dtype of the Mix-FFN's two wide intermediates (the
// 2H-wide expansion and the H-wide gated output): bf16 in the bf16
// precision mode when the block's 1×1 weights are bf16 and carry no LoRA,
// as diffusers' bf16 pipeline keeps them, halving the traffic of the
// block's largest tensors (docs/performance.md); float32 otherwise.
func (m *Model) ffnActDType(bl *block) kernels.DType {
	if kernels.PrecisionOf(m.be) != kernels.PrecisionBF16 || len(bl.ffIn.lora) > 0 || len(bl.ffOut.lora) > 0 ||
		bl.ffIn.w.DType() != kernels.BFloat16 || bl.ffOut.w.DType() != kernels.BFloat16 {
		return kernels.Float32
	}
	return kernels.BFloat16
}

// normActDType is the dtype of the block's two adaLN outputs, which only
// feed GEMMs (attn1's q, k, v and the Mix-FFN expansion): bf16 in the bf16
// mode when those weights are bf16 — each GEMM then reads them without a
// cast — except under sequence parallelism, whose Mix-FFN bands reuse the
// buffer; float32 otherwise.
func (m *Model) normActDType(bl *block) kernels.DType {
	if kernels.PrecisionOf(m.be) != kernels.PrecisionBF16 || m.sp() {
		return kernels.Float32
	}
	for _, l := range []linear{bl.q1, bl.k1, bl.v1, bl.ffIn} {
		if l.w == nil || l.w.DType() != kernels.BFloat16 {
			return kernels.Float32
		}
	}
	return kernels.BFloat16
}

// ffnOut is the GLU and the point projection of the Mix-FFN on the conv
// output c [B, N, 2H].
func (m *Model) ffnOut(r *run, bl *block, c *kernels.Tensor, D int) *kernels.Tensor {
	B, N, H := c.Dim(0), c.Dim(1), c.Dim(2)/2
	g := r.alloc(B, N, H)
	r.do(func() error { return m.be.GLU(g, c, kernels.ActSiLU, false) })
	out := r.alloc(B, N, D)
	m.project(r, out, g, bl.ffOut)
	return out
}

// finalLayer modulates with the embedded timestep e (not tmod), projects,
// and unpatchifies to NCHW [B, out, h, w].
func (m *Model) finalLayer(r *run, hid, e *kernels.Tensor, h, w int) *kernels.Tensor {
	B, N, D, C := hid.Dim(0), hid.Dim(1), hid.Dim(2), m.cfg.Out()
	shift, scale := r.alloc(B, D), r.alloc(B, D)
	r.do(func() error { return m.be.Add(shift, e, m.w.sstShift) })
	r.do(func() error { return m.be.Add(scale, e, m.w.sstScale) })
	hn := r.alloc(B, N, D)
	r.do(func() error { return m.be.LayerNormModulate(hn, hid, shift, scale, float32(m.cfg.NormEps)) })
	tok := r.alloc(B, N, C)
	r.linear(tok, hn, m.w.projOut)
	out := r.alloc(B, C, N)
	r.do(func() error { return m.be.Transpose(out, tok) })
	if out == nil {
		return nil
	}
	return out.MustReshape(B, C, h, w)
}
