// Package sana is the Sana text-to-image pipeline. This file holds the
// denoising loop: classifier-free guidance around the transformer and a
// flow sampler, from prompt embeddings and initial latents to final
// latents (VAE decoding is separate).
package sana

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sampler"
)

// DenoiseRequest is the input of the denoising loop.
type DenoiseRequest struct {
	// PromptEmbeds [B, T, caption_channels] and PromptMask [B, T] (1 keep,
	// 0 pad) condition the positive branch.
	PromptEmbeds, PromptMask *kernels.Tensor
	// NegativeEmbeds/NegativeMask condition the unconditional branch; they
	// are required when GuidanceScale > 1.
	NegativeEmbeds, NegativeMask *kernels.Tensor
	// Latents [B, C, h, w] Float32 host tensor: the initial noise.
	Latents *kernels.Tensor
	// GuidanceScale > 1 enables classifier-free guidance.
	GuidanceScale float32
	// Guidance is the embedded guidance of Sprint models (already scaled
	// by guidance_embeds_scale); ignored by other models.
	Guidance float32
	// PAG, when its Scale is > 0, adds perturbed-attention guidance
	// (SanaPAGPipeline, docs/pag.md).
	PAG PAG
	// OnStep, if set, is called after every step with the current latents.
	OnStep func(step, total int, latents *kernels.Tensor)
	// OnModel, if set, sees every step's transformer call and guidance.
	OnModel func(ModelStep)
	// Control, if set, conditions the transformer with a ControlNet
	// (SanaControlNetPipeline, docs/controlnet.md).
	Control *Control
	// Stats, if set, receives how the transformer calls ran (CUDA-graph
	// replays or op by op, and why) when the loop ends.
	Stats *dit.StepStats
}

// Denoise runs the sampler's steps and returns the final latents (a new
// host tensor; req.Latents is not modified).
func Denoise(ctx context.Context, m Transformer, s sampler.Sampler, req DenoiseRequest) (*kernels.Tensor, error) {
	x := req.Latents
	if x == nil || !x.OnHost() || x.DType() != kernels.Float32 || x.Rank() != 4 {
		return nil, fmt.Errorf("denoise: latents %v, want a host F32 [B, C, h, w] tensor", x)
	}
	cfg := req.GuidanceScale > 1
	if err := req.PAG.validate(); err != nil {
		return nil, err
	}
	if req.PAG.on() && req.Control != nil {
		return nil, fmt.Errorf("denoise: PAG and ControlNet together are not supported (diffusers has no such pipeline)")
	}
	cd, ctrl, err := prepare(ctx, m, req, cfg)
	if err != nil {
		return nil, err
	}
	lat := x.Clone()
	var fwd forwardFunc
	done := func() dit.StepStats { return dit.StepStats{Eager: s.Steps(), Why: dit.ErrOpByOp} }
	if ctrl == nil { // a ControlNet changes the condition every step
		if fwd, done, err = bindForward(ctx, m, cd, branches(cfg, req.PAG.on())*x.Dim(0), x.Dim(2), x.Dim(3)); err != nil {
			return nil, fmt.Errorf("denoise: %w", err)
		}
	}
	defer func() {
		if st := done(); req.Stats != nil {
			*req.Stats = st
		}
	}()
	for i := 0; i < s.Steps(); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := velocity(ctx, m, fwd, cd, ctrl, lat, i, s.Timestep(i), req, cfg)
		if err != nil {
			return nil, fmt.Errorf("denoise: step %d: %w", i, err)
		}
		if err := s.Step(i, v, lat.F32()); err != nil {
			return nil, fmt.Errorf("denoise: step %d: %w", i, err)
		}
		if req.OnStep != nil {
			req.OnStep(i, s.Steps(), lat)
		}
	}
	return lat, nil
}

// prepare builds the caption condition, batched [negative, positive] under
// CFG as diffusers does, and the ControlNet's when req has one.
func prepare(ctx context.Context, m Transformer, req DenoiseRequest, cfg bool) (*dit.Cond, *controlState, error) {
	emb, mask := req.PromptEmbeds, req.PromptMask
	if emb == nil || mask == nil || emb.Rank() != 3 || emb.Dim(0) != req.Latents.Dim(0) {
		return nil, nil, fmt.Errorf("denoise: prompt embeddings %v and mask %v do not match latents %v", emb, mask, req.Latents)
	}
	if cfg {
		if req.NegativeEmbeds == nil || req.NegativeMask == nil {
			return nil, nil, fmt.Errorf("denoise: guidance scale %g needs negative prompt embeddings", req.GuidanceScale)
		}
		var err error
		if emb, err = concat0(req.NegativeEmbeds, emb); err != nil {
			return nil, nil, fmt.Errorf("denoise: negative/positive embeddings: %w", err)
		}
		if mask, err = concat0(req.NegativeMask, mask); err != nil {
			return nil, nil, fmt.Errorf("denoise: negative/positive masks: %w", err)
		}
	}
	if req.PAG.on() {
		cd, err := preparePAG(ctx, m, req, emb, mask)
		return cd, nil, err
	}
	ctrl, err := prepareControl(ctx, req, emb, mask, cfg)
	if err != nil {
		return nil, nil, err
	}
	cd, err := m.PrepareCond(ctx, emb, mask)
	return cd, ctrl, err
}

// velocity evaluates the transformer at step i (scheduler timestep st)
// and combines the branches in float32: CFG v = v_u + g·(v_c − v_u), and
// with PAG + s·(v_c − v_p) (guide).
func velocity(ctx context.Context, m Transformer, fwd forwardFunc, cd *dit.Cond, ctrl *controlState, lat *kernels.Tensor, i int, st float32, req DenoiseRequest, cfg bool) ([]float32, error) {
	copies := branches(cfg, req.PAG.on())
	in := lat
	for k := 1; k < copies; k++ {
		var err error
		if in, err = concat0(in, lat); err != nil {
			return nil, err
		}
	}
	n := in.Dim(0)
	t := st * m.Config().TimeScale()
	ts := make([]float32, n)
	var g []float32
	for i := range ts {
		ts[i] = t
	}
	if m.Config().GuidanceEmbeds {
		g = make([]float32, n)
		for i := range g {
			g[i] = req.Guidance
		}
	}
	var samples []*kernels.Tensor
	var out *kernels.Tensor
	var err error
	if ctrl != nil {
		if samples, err = ctrl.net.Control(ctx, in, ctrl.cond, ts, ctrl.cd, ctrl.scale); err != nil {
			return nil, err
		}
		out, err = m.Forward(ctx, in, ts, g, cd.WithControl(samples))
	} else {
		out, err = fwd(ctx, in, ts, g)
	}
	if err != nil {
		return nil, err
	}
	host, err := toHostF32(m.Backend(), out)
	if err != nil {
		return nil, err
	}
	v := guide(host.F32(), copies, cfg, req.GuidanceScale, req.PAG.scaleAt(st))
	if req.OnModel != nil {
		ms := ModelStep{Index: i, Input: in, Timestep: ts, Output: host.F32(), Guided: v}
		if ms.Control, err = hostSamples(m.Backend(), samples); err != nil {
			return nil, err
		}
		req.OnModel(ms)
	}
	return v, nil
}

// branches is the number of copies of the latents one step evaluates:
// the conditional one, the unconditional one under CFG, the perturbed one
// under PAG.
func branches(cfg, pag bool) int {
	n := 1
	if cfg {
		n++
	}
	if pag {
		n++
	}
	return n
}

// forwardFunc evaluates the transformer on latents x at timesteps t (and
// guidance g) for a fixed caption condition.
type forwardFunc func(ctx context.Context, x *kernels.Tensor, t, g []float32) (*kernels.Tensor, error)

// stepper is a transformer that binds a denoising loop's shapes and
// condition (dit.Model.NewStep): on a CUDA backend with graphs on, the
// bound step is captured once and replayed (model/dit/step.go).
type stepper interface {
	NewStep(ctx context.Context, cd *dit.Cond, B, h, w int) (*dit.Step, error)
}

// bindForward returns the loop's forward function for n latents of h×w
// and the func to call when the loop ends, which says how the calls ran.
func bindForward(ctx context.Context, m Transformer, cd *dit.Cond, n, h, w int) (forwardFunc, func() dit.StepStats, error) {
	if s, ok := m.(stepper); ok {
		st, err := s.NewStep(ctx, cd, n, h, w)
		if err != nil {
			return nil, nil, err
		}
		return st.Forward, func() dit.StepStats { _ = st.Close(); return st.Stats() }, nil
	}
	calls := 0
	return func(ctx context.Context, x *kernels.Tensor, t, g []float32) (*kernels.Tensor, error) {
			calls++
			return m.Forward(ctx, x, t, g, cd)
		}, func() dit.StepStats {
			return dit.StepStats{Eager: calls, Why: dit.ErrOpByOp}
		}, nil
}

// toHostF32 returns t as a host Float32 tensor, copying it off the
// backend's device when needed.
func toHostF32(be kernels.Backend, t *kernels.Tensor) (*kernels.Tensor, error) {
	if t.OnHost() && t.DType() == kernels.Float32 {
		return t, nil
	}
	host, err := kernels.New(kernels.Float32, t.Shape()...)
	if err != nil {
		return nil, err
	}
	if err := be.Copy(host, t); err != nil {
		return nil, fmt.Errorf("copying model output to the host: %w", err)
	}
	return host, nil
}

// concat0 concatenates two host tensors of the same dtype along dim 0.
func concat0(a, b *kernels.Tensor) (*kernels.Tensor, error) {
	if a.DType() != b.DType() || a.Rank() != b.Rank() || a.Len()/max(a.Dim(0), 1) != b.Len()/max(b.Dim(0), 1) {
		return nil, fmt.Errorf("cannot concatenate %v and %v", a, b)
	}
	shape := append([]int{a.Dim(0) + b.Dim(0)}, a.Shape()[1:]...)
	out, err := kernels.New(a.DType(), shape...)
	if err != nil {
		return nil, err
	}
	switch a.DType() {
	case kernels.Float32:
		copy(out.F32()[copy(out.F32(), a.F32()):], b.F32())
	case kernels.Int64:
		copy(out.I64()[copy(out.I64(), a.I64()):], b.I64())
	case kernels.Int32:
		copy(out.I32()[copy(out.I32(), a.I32()):], b.I32())
	default:
		copy(out.U16()[copy(out.U16(), a.U16()):], b.U16())
	}
	return out, nil
}
