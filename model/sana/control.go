package sana

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/controlnet"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/dit"
)

// ControlNet is what the controlled loop needs of a ControlNet.
type ControlNet interface {
	PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*dit.Cond, error)
	Control(ctx context.Context, x, cond *kernels.Tensor, t []float32, cd *dit.Cond, scale float32) ([]*kernels.Tensor, error)
}

var _ ControlNet = (*controlnet.Model)(nil)

// Control conditions a denoising loop with a ControlNet
// (SanaControlNetPipeline, docs/controlnet.md).
type Control struct {
	Net ControlNet
	// Latents [B, C, h, w] host F32: vae.encode(control image) times
	// scaling_factor, one row per sample (EncodeControl).
	Latents *kernels.Tensor
	// Scale is controlnet_conditioning_scale (diffusers' default 1.0).
	Scale float32
}

// controlState is the per-loop ControlNet input: its caption condition
// and the control latents batched like the transformer input.
type controlState struct {
	net   ControlNet
	cd    *dit.Cond
	cond  *kernels.Tensor
	scale float32
}

// prepareControl builds req.Control's state, or nil without a ControlNet.
// emb and mask are already batched [negative, positive] under CFG; the
// control latents are duplicated the same way (cat([img, img])).
func prepareControl(ctx context.Context, req DenoiseRequest, emb, mask *kernels.Tensor, cfg bool) (*controlState, error) {
	c := req.Control
	if c == nil {
		return nil, nil
	}
	switch {
	case c.Net == nil:
		return nil, fmt.Errorf("denoise: control without a ControlNet")
	case c.Latents == nil || !c.Latents.OnHost() || !kernels.SameShape(c.Latents, req.Latents):
		return nil, fmt.Errorf("denoise: control latents %v, want host %v like the latents", c.Latents, req.Latents.Shape())
	}
	st := &controlState{net: c.Net, cond: c.Latents, scale: c.Scale}
	if cfg {
		var err error
		if st.cond, err = concat0(c.Latents, c.Latents); err != nil {
			return nil, fmt.Errorf("denoise: control latents: %w", err)
		}
	}
	var err error
	if st.cd, err = c.Net.PrepareCond(ctx, emb, mask); err != nil {
		return nil, fmt.Errorf("denoise: ControlNet caption: %w", err)
	}
	return st, nil
}

// hostSamples copies ControlNet samples to the host (nil for none).
func hostSamples(be kernels.Backend, samples []*kernels.Tensor) ([][]float32, error) {
	var out [][]float32
	for _, s := range samples {
		h, err := toHostF32(be, s)
		if err != nil {
			return nil, err
		}
		out = append(out, h.F32())
	}
	return out, nil
}

// EncodeControl is the ControlNet pipeline's control latent:
// vae.encode(x)·scaling_factor for a preprocessed image x [1, 3, H, W]
// (PreprocessImage), repeated to b rows (host F32 [b, C, h, w]).
func EncodeControl(ctx context.Context, vae *dcae.Model, x *kernels.Tensor, b int) (*kernels.Tensor, error) {
	lat, _, err := EncodeImage(ctx, vae, x, b, 1) // ·1 is exact: one rounding, as torch's `* scaling_factor`
	if err != nil {
		return nil, fmt.Errorf("control image: %w", err)
	}
	return lat, nil
}
