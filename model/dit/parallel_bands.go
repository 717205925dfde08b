package dit

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// Band returns the latent rows [lo, hi) that rank holds when size ranks
// split h rows by sequence parallelism (the first h mod size ranks get one
// row more).
func Band(h, rank, size int) (lo, hi int) {
	base, extra := h/size, h%size
	lo = rank*base + min(rank, extra)
	hi = lo + base
	if rank < extra {
		hi++
	}
	return lo, hi
}

// forwardBands is Forward under sequence parallelism: this rank embeds,
// runs and projects its band of latent rows, then the bands are gathered
// so every rank returns the whole output.
func (m *Model) forwardBands(ctx context.Context, x *kernels.Tensor, t, guidance []float32, cd *Cond) (*kernels.Tensor, error) {
	B, h, w := x.Dim(0), x.Dim(2), x.Dim(3)
	if h < m.par.size {
		return nil, fmt.Errorf("dit: %d latent rows cannot be split into %d bands", h, m.par.size)
	}
	lo, hi := Band(h, m.par.rank, m.par.size)
	xh, err := kernels.Download(m.be, x)
	if err != nil {
		return nil, fmt.Errorf("dit: latents: %w", err)
	}
	xb, err := kernels.Upload(m.be, rowsNCHW(xh, lo, hi))
	if err != nil {
		return nil, fmt.Errorf("dit: latents: %w", err)
	}
	r := &run{be: m.be, ctx: ctx}
	hid := m.embedPatches(r, xb, h, w, lo)
	e, tmod := m.embedTime(r, t, guidance)
	for i := range m.w.blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r.err == nil {
			r.err = m.runBlock(ctx, i, hid, tmod, cd, hi-lo, w)
		}
	}
	out := m.finalLayer(r, hid, e, hi-lo, w)
	if r.err != nil {
		return nil, fmt.Errorf("dit: forward: %w", r.err)
	}
	band, err := kernels.Download(m.be, out)
	if err != nil {
		return nil, fmt.Errorf("dit: forward: %w", err)
	}
	parts, err := m.par.comm.AllGather(ctx, band.F32())
	if err != nil {
		return nil, fmt.Errorf("dit: gathering output bands: %w", err)
	}
	return assembleBands(parts, B, m.cfg.Out(), h, w)
}

// rowsNCHW copies rows [lo, hi) of the host NCHW tensor x.
func rowsNCHW(x *kernels.Tensor, lo, hi int) *kernels.Tensor {
	B, C, h, w := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	out := kernels.MustNew(kernels.Float32, B, C, hi-lo, w)
	src, dst := x.F32(), out.F32()
	for bc := range B * C {
		copy(dst[bc*(hi-lo)*w:(bc+1)*(hi-lo)*w], src[bc*h*w+lo*w:bc*h*w+hi*w])
	}
	return out
}

// assembleBands stitches the gathered NCHW bands of every rank into
// [B, C, h, w].
func assembleBands(parts [][]float32, B, C, h, w int) (*kernels.Tensor, error) {
	out := kernels.MustNew(kernels.Float32, B, C, h, w)
	dst := out.F32()
	for k, p := range parts {
		lo, hi := Band(h, k, len(parts))
		n := (hi - lo) * w
		if len(p) != B*C*n {
			return nil, fmt.Errorf("dit: band of rank %d has %d values, want %d", k, len(p), B*C*n)
		}
		for bc := range B * C {
			copy(dst[bc*h*w+lo*w:bc*h*w+hi*w], p[bc*n:(bc+1)*n])
		}
	}
	return out, nil
}

// linAttnBands is attn1 on a band: the K·Vᵀ and ΣK state of every head is
// summed over the bands with one all-reduce (its size depends only on the
// heads, not on the resolution), overlapped with the q projection. The
// summed state is then re-expressed as Dh synthetic key/value tokens per
// head — key m = ΣK[m]·e_m, value m = (K·Vᵀ)[m, :]/ΣK[m] — whose own state
// is exactly the global one, so the backend's fused LinearAttention
// finishes the computation without a new kernel.
func (m *Model) linAttnBands(r *run, bl *block, o, a, q, k, v *kernels.Tensor) {
	r.linear(k, a, bl.k1)
	r.linear(v, a, bl.v1)
	if bl.nk1 != nil {
		r.do(func() error { return m.be.RMSNorm(k, k, bl.nk1, nil, kernels.NormParams{Eps: 1e-5}) })
	}
	st := m.kvState(r, k, v)
	if r.err != nil {
		return
	}
	wait := r.startAllReduce(m, st)
	r.linear(q, a, bl.q1)
	if bl.nq1 != nil {
		r.do(func() error { return m.be.RMSNorm(q, q, bl.nq1, nil, kernels.NormParams{Eps: 1e-5}) })
	}
	wait()
	m.stateAttention(r, st, o, q, k, v)
}

// kvState returns [B·H·Dh·Dh K·Vᵀ (value-major) | B·H·Dh ΣK] of the band,
// with k ← ReLU(k).
func (m *Model) kvState(r *run, k, v *kernels.Tensor) *kernels.Tensor {
	B, N, D, H := k.Dim(0), k.Dim(1), k.Dim(2), m.cfg.NumAttentionHeads
	Dh, BH := D/H, B*H
	kT, vT := r.alloc(B, D, N), r.alloc(B, D, N)
	st := r.alloc(BH*Dh*(Dh+1), 1)
	if r.err != nil {
		return nil
	}
	r.do(func() error { return m.be.Activate(k, k, kernels.ActReLU) })
	r.do(func() error { return m.be.Transpose(kT, k) })
	r.do(func() error { return m.be.Transpose(vT, v) })
	kv, _ := st.Slice(0, BH*Dh*Dh)
	ks, _ := st.Slice(BH*Dh*Dh, BH*Dh*(Dh+1))
	kT3, vT3 := kT.MustReshape(BH, Dh, N), vT.MustReshape(BH, Dh, N)
	r.do(func() error { return m.be.BatchMatMul(kv.MustReshape(BH, Dh, Dh), vT3, kT3, true, 1) })
	r.do(func() error { return m.be.Reduce(ks.MustReshape(BH, Dh), kT3, kernels.ReduceSum) })
	return st
}

// stateAttention computes o from q and the summed state st through the
// synthetic tokens, written into k and v (dead by now); a band with fewer
// tokens than Dh is zero-padded.
func (m *Model) stateAttention(r *run, st, o, q, k, v *kernels.Tensor) {
	h, _ := r.hostF32(st)
	if r.err != nil {
		return
	}
	B, N, D, H := q.Dim(0), q.Dim(1), q.Dim(2), m.cfg.NumAttentionHeads
	Dh := D / H
	ks, vs := synthTokens(h.F32(), B, H, Dh)
	Np := max(N, Dh)
	p := kernels.LinAttnParams{Heads: H, Eps: 1e-15}
	if Np == N {
		m.fillTokens(r, k, ks)
		m.fillTokens(r, v, vs)
		r.do(func() error { return m.be.LinearAttention(o, q, k, v, p) })
		return
	}
	qp, kp, vp, op := r.alloc(B, Np, D), r.alloc(B, Np, D), r.alloc(B, Np, D), r.alloc(B, Np, D)
	rest := r.alloc(B, Np-N, D)
	m.fillTokens(r, kp, ks)
	m.fillTokens(r, vp, vs)
	r.do(func() error { return m.be.Concat(qp, 1, q, m.zeros(r, B, Np-N, D)) })
	r.do(func() error { return m.be.LinearAttention(op, qp, kp, vp, p) })
	r.do(func() error { return m.be.Split([]*kernels.Tensor{o, rest}, 1, op) })
}

// synthTokens builds the host key and value tokens [B, Dh, H·Dh] whose
// linear-attention state equals st (see linAttnBands).
func synthTokens(st []float32, B, H, Dh int) (k, v *kernels.Tensor) {
	D := H * Dh
	k, v = kernels.MustNew(kernels.Float32, B, Dh, D), kernels.MustNew(kernels.Float32, B, Dh, D)
	kv, ks := st[:B*H*Dh*Dh], st[B*H*Dh*Dh:]
	kd, vd := k.F32(), v.F32()
	for bh := range B * H {
		b, hd := bh/H, bh%H
		for mi := range Dh {
			s := ks[bh*Dh+mi]
			tok := (b*Dh + mi) * D
			kd[tok+hd*Dh+mi] = s
			if s <= 0 {
				continue // every ReLU(k) of this channel is 0: so is its K·Vᵀ row
			}
			for j := range Dh {
				vd[tok+hd*Dh+j] = kv[(bh*Dh+j)*Dh+mi] / s
			}
		}
	}
	return k, v
}

// fillTokens writes the host tokens t [B, Dh, D] into dst [B, n, D],
// followed by zero tokens.
func (m *Model) fillTokens(r *run, dst, t *kernels.Tensor) {
	if r.err != nil {
		return
	}
	up, err := kernels.Upload(m.be, t)
	if err != nil {
		r.err = err
		return
	}
	B, Dh, D := t.Dim(0), t.Dim(1), t.Dim(2)
	if n := dst.Dim(1); n > Dh {
		r.do(func() error { return m.be.Concat(dst, 1, up, m.zeros(r, B, n-Dh, D)) })
		return
	}
	r.do(func() error { return m.be.Copy(dst, up) })
}

// zeros returns a cached, never written zero tensor of the shape.
func (m *Model) zeros(r *run, shape ...int) *kernels.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.zeroT == nil {
		m.zeroT = map[int]*kernels.Tensor{}
	}
	z := m.zeroT[n]
	if z == nil {
		var err error
		if z, err = m.be.Alloc(kernels.Float32, n); err != nil {
			r.err = err
			return nil
		}
		m.zeroT[n] = z
	}
	return z.MustReshape(shape...)
}
