package sana

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/sampler"
)

// Sampler names accepted by Request.Sampler.
const (
	SamplerDefault = ""      // the pipeline's scheduler_config.json
	SamplerDPM     = "dpm"   // Flow-DPM-Solver++ 2M
	SamplerEuler   = "euler" // Flow-Euler
	SamplerSCM     = "scm"   // Sprint's TrigFlow sampler (the only one for Sprint)
)

// Request is one text-to-image call. Zero values take the defaults of
// diffusers' pipeline (docs/sana.md §1.1, §1.3).
type Request struct {
	Prompts        []string
	NegativePrompt string
	// Width, Height are the requested output size (default 1024×1024).
	Width, Height int
	// NoBinning disables use_resolution_binning: generate at exactly
	// Width×Height (multiples of 32).
	NoBinning bool
	// Steps (default 20; Sprint 2), Guidance (default 4.5; CFG iff > 1,
	// embedded for Sprint).
	Steps    int
	Guidance float64
	// Sampler overrides the scheduler: "", "dpm", "euler" ("scm" only for
	// Sprint).
	Sampler string
	// Seed keys the noise: sample i of the request draws from
	// NoiseSource.Sample(Seed, i), independent of batching.
	Seed uint64
	// ImagesPerPrompt (default 1); samples are prompt-major.
	ImagesPerPrompt int
	// BatchSize is the number of samples denoised together (default 1).
	BatchSize int
	// MaxSequenceLength (default 300) and NoCHI (disable the complex human
	// instruction) control prompt encoding.
	MaxSequenceLength int
	NoCHI             bool
	// Progress, if set, is called after every denoising step.
	Progress func(Progress)
	// InitImage, with a Sprint pipeline loaded with Options.ImageToImage,
	// makes the request image-to-image (SanaSprintImg2ImgPipeline): the
	// schedule starts at Strength (default DefaultStrength) from the
	// noised encoded image. InitImageSource names it in the parameters.
	InitImage       image.Image
	Strength        float64
	InitImageSource string
	// PAG adds perturbed-attention guidance when PAG.Scale > 0 (not for
	// Sprint pipelines; Blocks default to DefaultPAGBlocks; docs/pag.md).
	PAG PAG
	// ControlImage conditions a pipeline loaded with a ControlNet (required
	// there), resized and cropped to the generation size; ControlScale is
	// controlnet_conditioning_scale (default DefaultControlScale) and
	// ControlImageSource names the image in the parameters.
	ControlImage       image.Image
	ControlScale       float64
	ControlImageSource string
}

// Progress reports one finished step of a batch.
type Progress struct {
	Step, Steps  int // 1-based step within the batch
	Done, Images int // images finished before this batch, images in total
	Batch        int // images in this batch
}

// Image is one generated image and how it was made.
type Image struct {
	Image  *image.NRGBA
	Index  int // sample index within the request
	Prompt string
	Params Params
}

// Result is a finished request.
type Result struct {
	Images []Image
	// GenWidth, GenHeight are the size the model generated at (the bin).
	GenWidth, GenHeight int
	Timings             Timings
}

// Timings are wall-clock durations of a request's phases, and how its
// denoising steps ran: replayed as a CUDA graph or op by op.
type Timings struct {
	Encode, Denoise, Decode, Total time.Duration
	GraphSteps, EagerSteps         int
}

// request is a validated Request with defaults applied.
type request struct {
	Request
	genH, genW int
	samples    int
	init       *kernels.Tensor // img2img: encoded init image ·scaling_factor·σ_d [1, C, h, w]
	control    *kernels.Tensor // ControlNet: encoded control image ·scaling_factor [1, C, h, w]
}

func (p *Pipeline) defaults(r Request) (request, error) {
	q := request{Request: r}
	if len(r.Prompts) == 0 {
		return q, errors.New("generate: no prompts")
	}
	if q.Width == 0 && q.Height == 0 {
		q.Width, q.Height = 1024, 1024
	}
	if q.Width <= 0 || q.Height <= 0 {
		return q, fmt.Errorf("generate: size %dx%d must be positive", q.Width, q.Height)
	}
	if q.Steps == 0 {
		q.Steps = 20
		if p.Sprint() {
			q.Steps = 2
		}
	}
	if q.Guidance == 0 {
		q.Guidance = 4.5
	}
	q.ImagesPerPrompt = max(q.ImagesPerPrompt, 1)
	q.BatchSize = max(q.BatchSize, 1)
	if q.MaxSequenceLength == 0 {
		q.MaxSequenceLength = 300
		if p.maxSeq > 0 { // an NVlabs config's model_max_length
			q.MaxSequenceLength = p.maxSeq
		}
	}
	if err := p.pagDefaults(&q); err != nil {
		return q, err
	}
	q.samples = len(q.Prompts) * q.ImagesPerPrompt
	if q.Steps < 1 {
		return q, fmt.Errorf("generate: steps %d: want at least 1", q.Steps)
	}
	if q.MaxSequenceLength < 2 {
		return q, fmt.Errorf("generate: max sequence length %d: want at least 2", q.MaxSequenceLength)
	}
	return q, p.genSize(&q)
}

// genSize applies resolution binning and checks the latent grid.
func (p *Pipeline) genSize(q *request) error {
	q.genH, q.genW = q.Height, q.Width
	if !q.NoBinning {
		h, w, err := BinSize(p.dit.Config().SampleSize, q.Height, q.Width)
		if err != nil {
			return fmt.Errorf("generate: %w (set NoBinning to generate at the requested size)", err)
		}
		q.genH, q.genW = h, w
	}
	f := p.vae.Config().Compression()
	if q.genH%f != 0 || q.genW%f != 0 {
		return fmt.Errorf("generate: size %dx%d is not a multiple of %d (the autoencoder's compression)", q.genW, q.genH, f)
	}
	return nil
}

// newSampler builds the flow sampler a request names.
func (p *Pipeline) newSampler(name string, steps int) (sampler.Sampler, error) {
	c := *p.flow
	switch name {
	case SamplerDefault:
	case SamplerDPM:
		if c.ClassName != sampler.ClassDPMSolver {
			js := fmt.Sprintf(`{"_class_name": %q, "flow_shift": %g, "use_flow_sigmas": true, "prediction_type": "flow_prediction", "num_train_timesteps": %d}`,
				sampler.ClassDPMSolver, float64(c.Shift), c.NumTrainTimesteps)
			var err error
			if c, err = sampler.ParseConfig([]byte(js)); err != nil {
				return nil, err
			}
		}
	case SamplerEuler:
		if c.ClassName != sampler.ClassEuler {
			js := fmt.Sprintf(`{"_class_name": %q, "shift": %g, "num_train_timesteps": %d}`,
				sampler.ClassEuler, float64(c.FlowShift), c.NumTrainTimesteps)
			var err error
			if c, err = sampler.ParseConfig([]byte(js)); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("generate: unknown sampler %q (want %s or %s)", name, SamplerDPM, SamplerEuler)
	}
	return sampler.New(c, steps)
}

// Generate runs the whole pipeline: prompt encoding, denoising, decoding
// and post-processing, in batches of BatchSize samples.
func (p *Pipeline) Generate(ctx context.Context, r Request) (*Result, error) {
	start := time.Now()
	q, err := p.defaults(r)
	if err != nil {
		return nil, err
	}
	if p.Sprint() && q.Sampler != SamplerDefault && q.Sampler != SamplerSCM {
		return nil, fmt.Errorf("generate: a Sprint pipeline samples only with %s, not %q", SamplerSCM, q.Sampler)
	}
	if err := p.prepareInit(ctx, &q); err != nil {
		return nil, err
	}
	if err := p.prepareControl(ctx, &q); err != nil {
		return nil, err
	}
	res := &Result{GenWidth: q.genW, GenHeight: q.genH}
	conds, err := p.encodePrompts(ctx, q)
	if err != nil {
		return nil, err
	}
	res.Timings.Encode = time.Since(start)
	for first := 0; first < q.samples; first += q.BatchSize {
		n := min(q.BatchSize, q.samples-first)
		imgs, err := p.runBatch(ctx, q, conds, first, n, &res.Timings)
		if err != nil {
			return nil, err
		}
		res.Images = append(res.Images, imgs...)
	}
	res.Timings.Total = time.Since(start)
	return res, nil
}

// conds holds each prompt's embedding and the negative one (CFG only).
type conds struct {
	pos []embedding
	neg *embedding
}

func (p *Pipeline) encodePrompts(ctx context.Context, q request) (conds, error) {
	var c conds
	for _, text := range q.Prompts {
		e, err := p.encodeText(ctx, text, !q.NoCHI, q.MaxSequenceLength)
		if err != nil {
			return c, fmt.Errorf("generate: %w", err)
		}
		c.pos = append(c.pos, e)
	}
	if !p.Sprint() && q.Guidance > 1 {
		e, err := p.encodeText(ctx, q.NegativePrompt, false, q.MaxSequenceLength)
		if err != nil {
			return c, fmt.Errorf("generate: negative prompt: %w", err)
		}
		c.neg = &e
	}
	return c, nil
}
