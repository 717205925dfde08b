package dit

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// Cond is the prompt-dependent work shared by every denoising step: the
// projected, normalised caption and each block's cross-attention K and V.
type Cond struct {
	B, T int
	mask *kernels.Tensor // additive [B, T]: 0 keep, −10000 padding
	k, v []*kernels.Tensor

	// pag marks the blocks whose last pagRows samples get identity
	// self-attention (WithPAG).
	pag     map[int]bool
	pagRows int

	// control are ControlNet block samples (WithControl).
	control []*kernels.Tensor
}

// PrepareCond projects caption embeddings enc [B, T, caption_channels]
// with mask [B, T] (1 keep, 0 pad; Int64, Int32 or Float32).
func (m *Model) PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*Cond, error) {
	c := m.cfg
	if enc == nil || enc.Rank() != 3 || enc.Dim(2) != c.CaptionChannels {
		return nil, fmt.Errorf("dit: caption embeddings %v, want [B, T, %d]", enc, c.CaptionChannels)
	}
	B, T, D := enc.Dim(0), enc.Dim(1), c.Dim()
	bias, err := maskBias(mask, B, T)
	if err != nil {
		return nil, err
	}
	if err := m.ready(); err != nil {
		return nil, fmt.Errorf("dit: %w", err)
	}
	if enc, err = kernels.Upload(m.be, enc); err != nil {
		return nil, fmt.Errorf("dit: caption embeddings: %w", err)
	}
	if L := captionKeep(bias, B, T); L < T {
		if enc, bias, err = m.trimCaption(enc, bias, L); err != nil {
			return nil, fmt.Errorf("dit: caption embeddings: %w", err)
		}
		T = L
	}
	r := &run{be: m.be, ctx: ctx}
	cd := &Cond{B: B, T: T, mask: r.alloc(B, T)}
	r.do(func() error { return m.be.Copy(cd.mask, bias) })
	h1, y := r.alloc(B, T, D), r.alloc(B, T, D)
	r.linear(h1, enc, m.w.caption.l1)
	r.do(func() error { return m.be.Activate(h1, h1, kernels.ActGELUTanh) })
	r.linear(y, h1, m.w.caption.l2)
	r.do(func() error { return m.be.RMSNorm(y, y, m.w.captionNrm, nil, kernels.NormParams{Eps: 1e-5}) })
	for _, bl := range m.w.blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k, v := r.alloc(B, T, m.localDim()), r.alloc(B, T, m.localDim())
		r.linear(k, y, bl.k2)
		r.linear(v, y, bl.v2)
		if bl.nk2 != nil {
			m.qkNorm(r, []*kernels.Tensor{k}, []*kernels.Tensor{bl.nk2})()
		}
		cd.k, cd.v = append(cd.k, k), append(cd.v, v)
	}
	if r.err != nil {
		return nil, fmt.Errorf("dit: preparing caption: %w", r.err)
	}
	return cd, nil
}

// maskBias turns a 0/1 mask into diffusers' additive bias (1 − m)·(−10000).
func maskBias(mask *kernels.Tensor, B, T int) (*kernels.Tensor, error) {
	out := kernels.MustNew(kernels.Float32, B, T)
	if mask == nil {
		return out, nil
	}
	if !mask.OnHost() || mask.Len() != B*T || !kernels.SameShape(mask, out) {
		return nil, fmt.Errorf("dit: attention mask %v, want host [%d %d]", mask, B, T)
	}
	for i := range out.F32() {
		out.F32()[i] = float32(1-mask.At(i)) * -10000
	}
	return out, nil
}
