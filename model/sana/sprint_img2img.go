package sana

import (
	"context"
	"fmt"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
)

// ClassSprintImg2ImgPipeline is diffusers' Sprint image-to-image pipeline.
const ClassSprintImg2ImgPipeline = "SanaSprintImg2ImgPipeline"

// SprintStart is SanaSprintImg2ImgPipeline's get_timesteps: of n steps,
// the index of the first that runs at strength (0, 1]; the loop then
// runs the schedule from there (set_begin_index).
func SprintStart(n int, strength float64) (int, error) {
	if !(strength > 0 && strength <= 1) {
		return 0, fmt.Errorf("strength %g: want 0 < strength ≤ 1", strength)
	}
	init := min(float64(n)*strength, float64(n))
	start := int(max(float64(n)-init, 0))
	if start >= n {
		return 0, fmt.Errorf("strength %g leaves none of the %d steps", strength, n)
	}
	return start, nil
}

// PreprocessImage turns an RGB image, uint8 values in HWC order, into the
// DC-AE encoder input [1, 3, h, w]: 2·(x/255) − 1 in float32, bit-exact
// with diffusers' VaeImageProcessor.
func PreprocessImage(pix []uint8, h, w int) (*kernels.Tensor, error) {
	if h < 1 || w < 1 || len(pix) != h*w*3 {
		return nil, fmt.Errorf("image: %d bytes for %d×%d RGB", len(pix), w, h)
	}
	out := kernels.MustNew(kernels.Float32, 1, 3, h, w)
	x := out.F32()
	for i := range h * w {
		for c := range 3 {
			v := float32(pix[i*3+c]) / 255
			x[c*h*w+i] = float32(2*v) - 1 // the conversion keeps the two roundings (no FMA)
		}
	}
	return out, nil
}

// EncodeImage is the img2img pipeline's image latent: vae.encode(x) (raw,
// host F32 [1, C, h, w]) and raw·scaling_factor·σ_d repeated to b rows.
func EncodeImage(ctx context.Context, vae *dcae.Model, x *kernels.Tensor, b int, sigmaData float32) (scaled, raw *kernels.Tensor, err error) {
	z, err := vae.Encode(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	if raw, err = toHostF32(vae.Backend(), z); err != nil {
		return nil, nil, err
	}
	if raw.Dim(0) != 1 {
		return nil, nil, fmt.Errorf("encode image: %d images, want 1", raw.Dim(0))
	}
	sf := float32(vae.Config().ScalingFactor)
	shape := append([]int{b}, raw.Shape()[1:]...)
	scaled = kernels.MustNew(kernels.Float32, shape...)
	per := raw.Len()
	for i := range b {
		for j, v := range raw.F32() {
			scaled.F32()[i*per+j] = float32(v*sf) * sigmaData
		}
	}
	return scaled, raw, nil
}

// NoisedLatents is prepare_latents of the img2img pipeline:
// cos(s₀)·z + sin(s₀)·(σ_d·ε) in float32, z the scaled image latents and
// noise ε standard normal (len(z) values). The result is SprintDenoise's
// Latents as is (no further ·σ_d).
func NoisedLatents(z *kernels.Tensor, s0, sigmaData float32, noise []float32) (*kernels.Tensor, error) {
	if len(noise) != z.Len() {
		return nil, fmt.Errorf("img2img noise: %d values for latents %v", len(noise), z.Shape())
	}
	c, s := float32(math.Cos(float64(s0))), float32(math.Sin(float64(s0)))
	out := z.Clone()
	for i, v := range z.F32() {
		out.F32()[i] = float32(c*v) + float32(s*float32(noise[i]*sigmaData))
	}
	return out, nil
}
