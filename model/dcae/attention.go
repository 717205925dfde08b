package dcae

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// attnEps is added to the attention denominators (diffusers' 1e-15).
const attnEps = 1e-15

// vitAttention is SanaMultiscaleLinearAttention with its residual, in
// place on x [B, h, w, C]:
//
//	A = [QKV, MS_1(QKV), ...]           QKV = x·[to_q; to_k; to_v]ᵀ  (3I channels each)
//	group g = channels [3Dh·g, 3Dh·(g+1)) of A: q, k, v = its thirds
//	O = attention per group (channel g·Dh + d)
//	x += RMSNorm(O·to_outᵀ)
//
// The groups straddle the to_q/to_k/to_v boundaries, so q/k/v must be cut
// from the fused, concatenated tensor, not from the three projections.
func (m *Model) vitAttention(r *run, x *kernels.Tensor, b *vitBlock) {
	B, H, W, C := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	N, Dh, I := H*W, m.cfg.AttentionHeadDim, b.heads*m.cfg.AttentionHeadDim
	qkv := r.alloc(B, H, W, 3*I)
	r.linear(qkv, x, b.qkv, nil)
	a := qkv
	if len(b.ms) > 0 {
		parts := []*kernels.Tensor{qkv}
		for _, p := range b.ms {
			parts = append(parts, m.multiscale(r, qkv, p))
		}
		a = r.alloc(B, H, W, 3*I*len(parts))
		r.do(func() error { return m.be.Concat(a, 3, parts...) })
		r.free(parts...)
	}
	G := b.heads * (1 + len(b.ms))
	q, k, v := r.alloc(B, N, G*Dh), r.alloc(B, N, G*Dh), r.alloc(B, N, G*Dh)
	r.do(func() error { // view A as [B·N·G, 3, Dh] and cut the three thirds
		rows := B * N * G
		dsts := []*kernels.Tensor{q.MustReshape(rows, 1, Dh), k.MustReshape(rows, 1, Dh), v.MustReshape(rows, 1, Dh)}
		return m.be.Split(dsts, 1, a.MustReshape(rows, 3, Dh))
	})
	r.free(a)
	o := r.alloc(B, N, G*Dh)
	// diffusers switches on h·w against the head dim (not the token count
	// against anything else): tiny grids use the quadratic form.
	if N > Dh {
		r.do(func() error {
			return m.be.LinearAttention(o, q, k, v, kernels.LinAttnParams{Heads: G, Eps: attnEps})
		})
	} else {
		m.quadraticAttention(r, o, q, k, v, G)
	}
	r.free(q, k, v)
	y := r.alloc(B, H, W, C)
	if y == nil {
		return
	}
	r.linear(y.MustReshape(B, N, C), o, b.out, nil)
	r.free(o)
	r.addNorm(x, y, b.normOut)
	r.free(y)
}

// multiscale is one to_qkv_multiscale branch: depthwise k×k (zero pad
// k/2) then a grouped 1×1 with Dh input channels per group.
func (m *Model) multiscale(r *run, qkv *kernels.Tensor, p msProj) *kernels.Tensor {
	C3, Dh := qkv.Dim(3), m.cfg.AttentionHeadDim
	d := r.alloc(qkv.Shape()...)
	r.do(func() error {
		return m.be.Conv2D(d, qkv, p.dw, nil, kernels.ConvParams{Stride: 1, Pad: p.k / 2, Groups: C3})
	})
	out := r.alloc(qkv.Shape()...)
	r.do(func() error {
		return m.be.Conv2D(out, d, p.pw, nil, kernels.ConvParams{Stride: 1, Pad: 0, Groups: C3 / Dh})
	})
	r.free(d)
	return out
}

// quadraticAttention is diffusers' path for h·w ≤ head dim: per group,
// S[n, m] = relu(q_n)·relu(k_m), each query's row divided by its sum
// + eps, o_n = Σ_m S[n, m] v_m. The same value as linear attention up to
// rounding, kept for parity. Token-major q, k, v, dst [B, N, G·Dh].
func (m *Model) quadraticAttention(r *run, dst, q, k, v *kernels.Tensor, G int) {
	if r.err != nil {
		return
	}
	B, N, Dh := q.Dim(0), q.Dim(1), q.Dim(2)/G
	qh, kh, vh := m.headMajor(r, q, G), m.headMajor(r, k, G), m.headMajor(r, v, G)
	r.do(func() error { return m.be.Activate(qh, qh, kernels.ActReLU) })
	r.do(func() error { return m.be.Activate(kh, kh, kernels.ActReLU) })
	s := r.alloc(B*G, N, N)
	r.do(func() error { return m.be.BatchMatMul(s, qh, kh, true, 1) })
	r.do(func() error { return m.normalizeRows(s) })
	oh := r.alloc(B*G, N, Dh)
	r.do(func() error { return m.be.BatchMatMul(oh, s, vh, false, 1) })
	r.free(qh, kh, vh, s)
	// Back to token-major: [B·G, N, Dh] → [B, G·Dh, N] → [B, N, G·Dh].
	t := r.alloc(B, G*Dh, N)
	r.do(func() error { return m.be.Transpose(t.MustReshape(B*G, Dh, N), oh) })
	r.do(func() error { return m.be.Transpose(dst, t) })
	r.free(oh, t)
}

// headMajor turns token-major x [B, N, G·Dh] into [B·G, N, Dh] with two
// last-axes transposes (the backend has no general permute).
func (m *Model) headMajor(r *run, x *kernels.Tensor, G int) *kernels.Tensor {
	B, N, Dh := x.Dim(0), x.Dim(1), x.Dim(2)/G
	t := r.alloc(B, G*Dh, N)
	r.do(func() error { return m.be.Transpose(t, x) })
	out := r.alloc(B*G, N, Dh)
	r.do(func() error { return m.be.Transpose(out, t.MustReshape(B*G, Dh, N)) })
	r.free(t)
	return out
}

// normalizeRows divides each row of s [..., N] by (its sum + eps) on the
// host: the backend has no division op, and this path only runs for
// ≤ head-dim tokens (a few KB).
func (m *Model) normalizeRows(s *kernels.Tensor) error {
	host := kernels.MustNew(kernels.Float32, s.Shape()...)
	if err := m.be.Copy(host, s); err != nil {
		return fmt.Errorf("quadratic attention: reading scores: %w", err)
	}
	n, d := s.Dim(-1), host.F32()
	for i := 0; i < len(d); i += n {
		row := d[i : i+n]
		var sum float32
		for _, x := range row {
			sum += x
		}
		for j := range row {
			row[j] /= sum + attnEps
		}
	}
	if err := m.be.Copy(s, host); err != nil {
		return fmt.Errorf("quadratic attention: writing scores: %w", err)
	}
	return nil
}
