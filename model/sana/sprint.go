package sana

import (
	"context"
	"fmt"
	"slices"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sampler"
)

// SprintRequest is the input of SprintDenoise, SanaSprintPipeline's loop.
type SprintRequest struct {
	// PromptEmbeds [B, T, caption_channels] and PromptMask [B, T].
	PromptEmbeds, PromptMask *kernels.Tensor
	// Latents [B, C, h, w] host F32: the sample at the first step, already
	// in the scheduler's scale (text-to-image ε·σ_d, image-to-image
	// cos(s₀)·z·σ_d + sin(s₀)·σ_d·ε); not modified.
	Latents *kernels.Tensor
	// Guidance is the pipeline's guidance_scale; the transformer receives
	// it times guidance_embeds_scale.
	Guidance float32
	// Noise returns step i's standard normal draws (len(Latents) values,
	// sample after sample); diffusers draws them even on the last step.
	Noise func(step int) []float32
	// OnStep, if set, sees every step's intermediates.
	OnStep func(SprintStep)
	// Stats, if set, receives how the transformer calls ran.
	Stats *dit.StepStats
}

// SprintStep holds the intermediates of one SCM step, named as in the
// pipeline_sprint golden case (docs/sana.md §1.3). Slices are fresh.
type SprintStep struct {
	Index, Total int
	Timestep     float32   // s
	Tau          float32   // the transformer's timestep
	Guidance     float32   // the transformer's (scaled) guidance
	Sample       []float32 // latents before the step
	Input        []float32 // transformer input (x/σ_d)·c
	Output       []float32 // raw transformer output
	ModelOutput  []float32 // σ_d·F, the scheduler's model_output
	Denoised     []float32 // x0
	PrevSample   []float32 // the next latents
}

// SprintDenoise runs the SCM steps of s from req.Latents and returns the
// last x0/σ_d (diffusers returns the denoised sample, not prev_sample), a
// new host tensor.
func SprintDenoise(ctx context.Context, m Transformer, s *sampler.SCM, req SprintRequest) (*kernels.Tensor, error) {
	lat := req.Latents
	if lat == nil || !lat.OnHost() || lat.DType() != kernels.Float32 || lat.Rank() != 4 {
		return nil, fmt.Errorf("sprint: latents %v, want a host F32 [B, C, h, w] tensor", lat)
	}
	if req.Noise == nil {
		return nil, fmt.Errorf("sprint: no noise source")
	}
	cd, err := m.PrepareCond(ctx, req.PromptEmbeds, req.PromptMask)
	if err != nil {
		return nil, err
	}
	sd := s.SigmaData()
	x := slices.Clone(lat.F32())
	n := lat.Dim(0)
	fwd, done, err := bindForward(ctx, m, cd, n, lat.Dim(2), lat.Dim(3))
	if err != nil {
		return nil, fmt.Errorf("sprint: %w", err)
	}
	defer func() {
		if st := done(); req.Stats != nil {
			*req.Stats = st
		}
	}()
	g := req.Guidance * m.Config().GuidanceScale()
	var x0 []float32
	for i := 0; i < s.Steps(); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tau, c := s.ModelTime(i)
		in := kernels.MustNew(kernels.Float32, lat.Shape()...)
		for j, v := range x {
			in.F32()[j] = v / sd * c
		}
		out, err := fwd(ctx, in, fill(n, tau), fill(n, g))
		if err != nil {
			return nil, fmt.Errorf("sprint: step %d: %w", i, err)
		}
		host, err := toHostF32(m.Backend(), out)
		if err != nil {
			return nil, fmt.Errorf("sprint: step %d: %w", i, err)
		}
		f := slices.Clone(host.F32())
		st := SprintStep{Index: i, Total: s.Steps(), Timestep: s.Timesteps()[i], Tau: tau, Guidance: g}
		if req.OnStep != nil {
			st.Sample, st.Input, st.Output = slices.Clone(x), slices.Clone(in.F32()), slices.Clone(f)
		}
		s.Precondition(i, in.F32(), f)
		noise := req.Noise(i)
		if x0, err = s.Step(i, f, x, noise); err != nil {
			return nil, fmt.Errorf("sprint: step %d: %w", i, err)
		}
		if req.OnStep != nil {
			st.ModelOutput, st.Denoised, st.PrevSample = f, slices.Clone(x0), slices.Clone(x)
			req.OnStep(st)
		}
	}
	for j := range x0 {
		x0[j] /= sd
	}
	return kernels.FromF32(x0, lat.Shape()...)
}

// sprintLoop is SanaSprintPipeline's text-to-image loop (docs/sana.md
// §1.3): latents = ε·σ_d, then SprintDenoise with fresh step noise from
// each sample's own stream.
func (p *Pipeline) sprintLoop(ctx context.Context, q request, emb, mask, lat *kernels.Tensor, streams []Normal, onStep func(int, int), st *dit.StepStats) (*kernels.Tensor, error) {
	s, err := sampler.NewSCM(*p.scm, q.Steps, nil)
	if err != nil {
		return nil, err
	}
	x := lat.Clone()
	for i, v := range x.F32() {
		x.F32()[i] = v * s.SigmaData()
	}
	if q.init != nil { // img2img: start at the strength's step from the noised image latents
		start, err := SprintStart(q.Steps, q.Strength)
		if err != nil {
			return nil, err
		}
		ts := s.Timesteps()[start:]
		if s, err = sampler.NewSCM(*p.scm, len(ts)-1, ts); err != nil {
			return nil, err
		}
		if x, err = NoisedLatents(repeatRows(q.init, lat.Dim(0)), ts[0], s.SigmaData(), lat.F32()); err != nil {
			return nil, err
		}
	}
	per := lat.Len() / lat.Dim(0)
	return SprintDenoise(ctx, p.dit, s, SprintRequest{
		PromptEmbeds: emb, PromptMask: mask, Latents: x, Guidance: float32(q.Guidance),
		Noise: func(int) []float32 {
			noise := make([]float32, 0, lat.Len())
			for _, st := range streams {
				noise = append(noise, st.Randn(per)...)
			}
			return noise
		},
		OnStep: func(s SprintStep) { onStep(s.Index, s.Total) },
		Stats:  st,
	})
}

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// decodeLatents divides by the autoencoder's scaling_factor and decodes,
// returning host float32 images.
func decodeLatents(ctx context.Context, vae *dcae.Model, be kernels.Backend, lat *kernels.Tensor) (*kernels.Tensor, error) {
	x, err := vae.Decode(ctx, unscaled(vae, lat))
	if err != nil {
		return nil, err
	}
	return toHostF32(be, x)
}

// unscaled is a copy of latents lat divided by the autoencoder's
// scaling_factor, what its decoder takes.
func unscaled(vae *dcae.Model, lat *kernels.Tensor) *kernels.Tensor {
	z := lat.Clone()
	sf := float32(vae.Config().ScalingFactor)
	for i, v := range z.F32() {
		z.F32()[i] = v / sf
	}
	return z
}

// Decode is the pipeline's decode for a standalone autoencoder: latents /
// scaling_factor → vae.Decode, as host float32 [B, 3, H, W] (unclamped).
func Decode(ctx context.Context, vae *dcae.Model, lat *kernels.Tensor) (*kernels.Tensor, error) {
	return decodeLatents(ctx, vae, vae.Backend(), lat)
}

// PostprocessPT is output_type "pt": (x/2 + 0.5) clamped to [0, 1].
func PostprocessPT(x *kernels.Tensor) *kernels.Tensor {
	out := x.Clone()
	for i, v := range out.F32() {
		out.F32()[i] = toUnit(v)
	}
	return out
}
