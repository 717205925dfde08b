package sana

import (
	"context"
	"fmt"
	"image"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/rng"
)

// Params are the generation parameters of one image, written into its PNG
// and provenance records.
type Params struct {
	Prompt         string `json:"prompt"`
	NegativePrompt string `json:"negative_prompt,omitempty"`
	Seed           uint64 `json:"seed"`
	Index          int    `json:"index"`
	// SampleSeed is the seed of this image's own noise generator,
	// rng.SampleSeed(Seed, Index): with it alone the image reproduces.
	SampleSeed uint64  `json:"sample_seed"`
	Steps      int     `json:"steps"`
	Guidance   float64 `json:"guidance_scale"`
	Sampler    string  `json:"sampler"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	GenWidth   int     `json:"gen_width"`
	GenHeight  int     `json:"gen_height"`
	Model      string  `json:"model,omitempty"`
	Pipeline   string  `json:"pipeline"`
	Backend    string  `json:"backend"`
	// LoRA lists the adapters fused into the transformer, in order, and
	// LoRAScale the global lora scale (docs/lora.md).
	LoRA      []LoRARef `json:"lora,omitempty"`
	LoRAScale float64   `json:"lora_scale,omitempty"`
	// InitImage and Strength describe an image-to-image request.
	InitImage string  `json:"init_image,omitempty"`
	Strength  float64 `json:"strength,omitempty"`
	// PAG records perturbed-attention guidance (docs/pag.md).
	PAGScale         float64 `json:"pag_scale,omitempty"`
	PAGAdaptiveScale float64 `json:"pag_adaptive_scale,omitempty"`
	PAGBlocks        []int   `json:"pag_blocks,omitempty"`
	// ControlNet, ControlImage and ControlScale describe a ControlNet
	// request (docs/controlnet.md).
	ControlNet   string  `json:"controlnet,omitempty"`
	ControlImage string  `json:"control_image,omitempty"`
	ControlScale float64 `json:"controlnet_conditioning_scale,omitempty"`
}

// LoRARef records one LoRA adapter a sample was generated with.
type LoRARef struct {
	Source string  `json:"source"`
	SHA256 string  `json:"sha256"`
	Weight float64 `json:"weight"`
}

// samplerName is the name recorded for the sampler a request used.
func (p *Pipeline) samplerName(q request) string {
	switch {
	case p.Sprint():
		return SamplerSCM
	case q.Sampler != SamplerDefault:
		return q.Sampler
	case p.flow.ClassName == "FlowMatchEulerDiscreteScheduler":
		return SamplerEuler
	}
	return SamplerDPM
}

// runBatch denoises, decodes and post-processes samples first…first+n−1.
func (p *Pipeline) runBatch(ctx context.Context, q request, c conds, first, n int, tm *Timings) ([]Image, error) {
	cfg := p.dit.Config()
	h, w := q.genH/p.vae.Config().Compression(), q.genW/p.vae.Config().Compression()
	streams := make([]Normal, n)
	lat := kernels.MustNew(kernels.Float32, n, cfg.InChannels, h, w)
	per := cfg.InChannels * h * w
	for i := range streams {
		streams[i] = p.noise.Sample(q.Seed, first+i)
		copy(lat.F32()[i*per:], streams[i].Randn(per))
	}
	emb, mask, err := stackPrompts(c.pos, q.ImagesPerPrompt, first, n)
	if err != nil {
		return nil, err
	}
	onStep := func(step, total int) {
		if q.Progress != nil {
			q.Progress(Progress{Step: step + 1, Steps: total, Done: first, Images: q.samples, Batch: n})
		}
	}
	t0 := time.Now()
	var final *kernels.Tensor
	var st dit.StepStats
	if p.Sprint() {
		final, err = p.sprintLoop(ctx, q, emb, mask, lat, streams, onStep, &st)
	} else {
		final, err = p.flowLoop(ctx, q, c, emb, mask, lat, onStep, &st)
	}
	if err != nil {
		return nil, fmt.Errorf("generate: samples %d…%d: %w", first, first+n-1, err)
	}
	t1 := time.Now()
	tm.Denoise += t1.Sub(t0)
	p.noteSteps(tm, st)
	imgs, err := p.decode(ctx, final, q.Width, q.Height)
	if err != nil {
		return nil, fmt.Errorf("generate: samples %d…%d: %w", first, first+n-1, err)
	}
	tm.Decode += time.Since(t1)
	out := make([]Image, n)
	for i := range out {
		k := first + i
		prompt := q.Prompts[k/q.ImagesPerPrompt]
		out[i] = Image{Image: imgs[i], Index: k, Prompt: prompt, Params: Params{
			Prompt: prompt, NegativePrompt: q.NegativePrompt, Seed: q.Seed, Index: k, SampleSeed: rng.SampleSeed(q.Seed, k), Steps: q.Steps,
			Guidance: q.Guidance, Sampler: p.samplerName(q), Width: q.Width, Height: q.Height,
			GenWidth: q.genW, GenHeight: q.genH, Model: p.origin, Pipeline: p.class, Backend: p.be.Name(),
			LoRA: p.lora, LoRAScale: p.loraScale,
		}}
		if q.init != nil {
			out[i].Params.InitImage, out[i].Params.Strength = q.InitImageSource, q.Strength
		}
		if q.control != nil {
			pp := &out[i].Params
			pp.ControlNet, pp.ControlImage, pp.ControlScale = p.controlOrigin, q.ControlImageSource, q.ControlScale
		}
		if q.PAG.on() {
			pp := &out[i].Params
			pp.PAGScale, pp.PAGAdaptiveScale, pp.PAGBlocks = float64(q.PAG.Scale), float64(q.PAG.AdaptiveScale), q.PAG.Blocks
		}
	}
	return out, nil
}

// noteSteps adds how a loop's transformer calls ran to the timings, and
// logs (once per pipeline) a CUDA-graph capture that failed, so that an
// operator who asked for --cuda-graphs learns the steps run op by op.
func (p *Pipeline) noteSteps(tm *Timings, st dit.StepStats) {
	tm.GraphSteps += st.Replays
	tm.EagerSteps += st.Eager
	if dit.CaptureFailed(st.Why) && p.captureWarned.CompareAndSwap(false, true) {
		p.log.Warn("CUDA graph capture failed; denoising steps run op by op", "err", st.Why)
	}
}

// flowLoop is the standard CFG loop (Denoise) with a fresh sampler.
func (p *Pipeline) flowLoop(ctx context.Context, q request, c conds, emb, mask, lat *kernels.Tensor, onStep func(int, int), st *dit.StepStats) (*kernels.Tensor, error) {
	s, err := p.newSampler(q.Sampler, q.Steps)
	if err != nil {
		return nil, err
	}
	req := DenoiseRequest{PromptEmbeds: emb, PromptMask: mask, Latents: lat, GuidanceScale: float32(q.Guidance), PAG: q.PAG,
		Control: p.controlFor(q, lat.Dim(0)), Stats: st,
		OnStep: func(i, total int, _ *kernels.Tensor) { onStep(i, total) }}
	if c.neg != nil {
		n := lat.Dim(0)
		if req.NegativeEmbeds, req.NegativeMask, err = stackPrompts([]embedding{*c.neg}, n, 0, n); err != nil {
			return nil, err
		}
	}
	return Denoise(ctx, p.dit, s, req)
}

// stackPrompts builds the [n, T, D] embeddings and [n, T] masks of samples
// first…first+n−1 (sample k uses prompt k / perPrompt).
func stackPrompts(es []embedding, perPrompt, first, n int) (*kernels.Tensor, *kernels.Tensor, error) {
	e0 := es[0].emb
	T, D := e0.Dim(1), e0.Dim(2)
	emb := kernels.MustNew(kernels.Float32, n, T, D)
	mask := kernels.MustNew(kernels.Int64, n, T)
	for i := 0; i < n; i++ {
		e := es[(first+i)/perPrompt]
		if e.emb.Dim(1) != T || e.emb.Dim(2) != D {
			return nil, nil, fmt.Errorf("prompt embeddings %v and %v differ in shape", e.emb, e0)
		}
		copy(emb.F32()[i*T*D:], e.emb.F32())
		copy(mask.I64()[i*T:], e.mask.I64())
	}
	return emb, mask, nil
}

// decode maps final latents to images of the requested size: latents /
// scaling_factor → VAE → resize-and-crop to (width, height) when binning
// changed the size → x/2+0.5, clamp, round-half-even(255·x).
func (p *Pipeline) decode(ctx context.Context, lat *kernels.Tensor, width, height int) ([]*image.NRGBA, error) {
	x, err := p.DecodeLatents(ctx, lat)
	if err != nil {
		return nil, err
	}
	n, c, h, w := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	px := resizeAndCrop(x.F32(), n, c, h, w, height, width)
	return toImages(px, n, c, height, width)
}

// DecodeLatents runs the autoencoder on latents / scaling_factor and
// returns the raw decoded images [B, 3, H, W] (host float32, unclamped) —
// what diffusers' vae.decode returns.
func (p *Pipeline) DecodeLatents(ctx context.Context, lat *kernels.Tensor) (*kernels.Tensor, error) {
	if !p.tiling.applies(lat) {
		return decodeLatents(ctx, p.vae, p.be, lat)
	}
	tile := p.tiling.Tile
	p.log.Debug("tiled decode", "latent", lat.Shape(), "tile", tile.TileLatent, "stride", tile.StrideLatent)
	return decodeLatentsTiled(ctx, p.vae, lat, tile)
}
