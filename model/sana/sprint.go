package sana

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/sampler"
)

// sprintLoop is SanaSprintPipeline's loop (docs/sana.md §1.3): latents =
// ε·σ_d; per step the transformer sees (x/σ_d)·c at τ with the embedded
// guidance, the SCM sampler steps with fresh noise from each sample's own
// stream, and the result is the last x0/σ_d.
func (p *Pipeline) sprintLoop(ctx context.Context, q request, emb, mask, lat *kernels.Tensor, streams []Normal, onStep func(int, int)) (*kernels.Tensor, error) {
	s, err := sampler.NewSCM(*p.scm, q.Steps, nil)
	if err != nil {
		return nil, err
	}
	m := p.dit
	cd, err := m.PrepareCond(ctx, emb, mask)
	if err != nil {
		return nil, err
	}
	sd := s.SigmaData()
	x := lat.F32()
	for i := range x {
		x[i] *= sd
	}
	n := lat.Dim(0)
	per := lat.Len() / n
	g := float32(q.Guidance) * m.Config().GuidanceScale()
	var x0 []float32
	for i := 0; i < s.Steps(); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tau, c := s.ModelTime(i)
		in := lat.Clone()
		for j, v := range in.F32() {
			in.F32()[j] = v / sd * c
		}
		out, err := m.Forward(ctx, in, fill(n, tau), fill(n, g), cd)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		host, err := toHostF32(m.Backend(), out)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		f := host.Clone().F32()
		s.Precondition(i, in.F32(), f)
		noise := make([]float32, 0, lat.Len())
		for _, st := range streams {
			noise = append(noise, st.Randn(per)...)
		}
		if x0, err = s.Step(i, f, x, noise); err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		onStep(i, s.Steps())
	}
	for j := range x0 {
		x0[j] /= sd
	}
	return kernels.FromF32(x0, lat.Shape()...)
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
	z := lat.Clone()
	sf := float32(vae.Config().ScalingFactor)
	for i, v := range z.F32() {
		z.F32()[i] = v / sf
	}
	x, err := vae.Decode(ctx, z)
	if err != nil {
		return nil, err
	}
	return toHostF32(be, x)
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
