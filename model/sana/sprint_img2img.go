package sana

import (
	"context"
	"fmt"
	"image"
	"image/color"
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

// DefaultStrength is SanaSprintImg2ImgPipeline's default strength.
const DefaultStrength = 0.6

// prepareInit encodes a request's init image once: converted to RGB,
// resized and centre-cropped to the generation size when it differs
// (bilinear, as resolution binning resizes outputs), 2x−1, DC-AE encoder,
// ·scaling_factor·σ_d. Only Sprint pipelines loaded with
// Options.ImageToImage take an init image.
func (p *Pipeline) prepareInit(ctx context.Context, q *request) error {
	if q.InitImage == nil {
		if q.Strength != 0 {
			return fmt.Errorf("generate: strength %g without an init image", q.Strength)
		}
		return nil
	}
	if !p.Sprint() {
		return fmt.Errorf("generate: an init image needs a Sprint pipeline (%s); %s has none", ClassSprintImg2ImgPipeline, p.class)
	}
	if !p.img2img {
		return fmt.Errorf("generate: an init image needs the autoencoder's encoder: load the pipeline with Options.ImageToImage")
	}
	if q.Strength == 0 {
		q.Strength = DefaultStrength
	}
	if _, err := SprintStart(q.Steps, q.Strength); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	b := q.InitImage.Bounds()
	h, w := b.Dy(), b.Dx()
	x, err := PreprocessImage(rgbBytes(q.InitImage), h, w)
	if err != nil {
		return fmt.Errorf("generate: init image: %w", err)
	}
	if h != q.genH || w != q.genW {
		px := resizeAndCrop(x.F32(), 1, 3, h, w, q.genH, q.genW)
		if x, err = kernels.FromF32(px, 1, 3, q.genH, q.genW); err != nil {
			return err
		}
	}
	if q.init, _, err = EncodeImage(ctx, p.vae, x, 1, float32(p.scm.SigmaData)); err != nil {
		return fmt.Errorf("generate: encoding the init image: %w", err)
	}
	return nil
}

// rgbBytes returns img's pixels as RGB bytes in HWC order (alpha dropped
// after compositing on black).
func rgbBytes(img image.Image) []uint8 {
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

// repeatRows stacks n copies of a [1, ...] tensor.
func repeatRows(t *kernels.Tensor, n int) *kernels.Tensor {
	out := kernels.MustNew(kernels.Float32, append([]int{n}, t.Shape()[1:]...)...)
	for i := range n {
		copy(out.F32()[i*t.Len():], t.F32())
	}
	return out
}
