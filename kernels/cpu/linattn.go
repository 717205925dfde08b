package cpu

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// LinearAttention is Sana's ReLU linear attention, parallel over
// (batch, head). Per head, with K⁺ = ReLU(K) and Q⁺ = ReLU(Q) (N × Dh):
//
//	KVᵀ = K⁺ᵀ·V      (Dh × Dh, one GEMM with depth N)
//	ksum = Σ_m k⁺_m
//	O   = Q⁺·KVᵀ     (N × Dh, one GEMM written straight into dst)
//	o_n /= q⁺_n·ksum + eps
//
// which is the formula of LinAttnParams regrouped so both halves are
// GEMMs; everything stays float32 like the PyTorch reference.
func (b *Backend) LinearAttention(dst, q, k, v *kernels.Tensor, p kernels.LinAttnParams) error {
	nb, n, h, dh, err := kernels.CheckLinearAttention(dst, q, k, v, p)
	if err != nil {
		return err
	}
	if err := host("linear attention", dst, q, k, v); err != nil {
		return err
	}
	if q.DType() == kernels.BFloat16 || dst.DType() == kernels.BFloat16 {
		return b.linearAttentionBF16(dst, q, k, v, p)
	}
	g := b.serial()
	b.parallelFor(nb*h, 1, func(lo, hi int) {
		s := linAttnScratch{kT: make([]float32, dh*n), qr: make([]float32, n*dh),
			kv: make([]float32, dh*dh), ksum: make([]float32, dh)}
		for t := lo; t < hi; t++ {
			bi, hd := t/h, t%h
			off := bi*n*h*dh + hd*dh
			linAttnHead(g, &s, dst.F32()[off:], q.F32()[off:], k.F32()[off:], v.F32()[off:], n, h*dh, dh, p.Eps)
		}
	})
	return nil
}

// linAttnScratch is one worker's reusable per-head buffers.
type linAttnScratch struct {
	kT, qr, kv, ksum []float32
}

// linAttnHead computes one head; q, k, v, out start at the head's first
// channel of token 0 and advance ld per token.
func linAttnHead(g *Backend, s *linAttnScratch, out, q, k, v []float32, n, ld, dh int, eps float32) {
	// K⁺ᵀ (dh × n) and ksum, accumulated in float64 for a stable sum over n.
	for j := range dh {
		col := s.kT[j*n : (j+1)*n]
		var sum float64
		for m := range col {
			x := max(k[m*ld+j], 0)
			col[m] = x
			sum += float64(x)
		}
		s.ksum[j] = float32(sum)
	}
	for m := range n {
		src, d := q[m*ld:m*ld+dh], s.qr[m*dh:(m+1)*dh]
		for j, x := range src {
			d[j] = max(x, 0)
		}
	}
	g.gemm(dh, dh, n, s.kT, n, matB{f32: v, dt: kernels.Float32, ld: ld}, s.kv, dh, false)
	g.gemm(n, dh, dh, s.qr, dh, matB{f32: s.kv, dt: kernels.Float32, ld: dh}, out, ld, false)
	ks := s.ksum[:dh]
	for m := range n {
		qr := s.qr[m*dh : (m+1)*dh]
		var den float32
		for j, x := range qr {
			den += x * ks[j]
		}
		inv := 1 / (den + eps)
		o := out[m*ld : m*ld+dh]
		for i := range o {
			o[i] *= inv
		}
	}
}

// linearAttentionBF16 is LinearAttention with bf16 activations: inputs
// widened exactly, the float32 computation, dst rounded once.
func (b *Backend) linearAttentionBF16(dst, q, k, v *kernels.Tensor, p kernels.LinAttnParams) error {
	wide := make([]*kernels.Tensor, 3)
	for i, t := range []*kernels.Tensor{q, k, v} {
		var err error
		if wide[i], err = t.ToF32(); err != nil {
			return fmt.Errorf("linear attention: %w", err)
		}
	}
	out := dst
	if dst.DType() == kernels.BFloat16 {
		out = kernels.MustNew(kernels.Float32, dst.Shape()...)
	}
	if err := b.LinearAttention(out, wide[0], wide[1], wide[2], p); err != nil {
		return err
	}
	if dst.DType() == kernels.BFloat16 {
		b.narrowBF16(dst.U16(), out.F32())
	}
	return nil
}
