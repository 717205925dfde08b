package golden

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"strconv"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/model/weights"
)

// loopParams are the call parameters of a pipeline case. The golden
// format records them in the README's call; defaults match pipeline_loop.
type loopParams struct {
	steps    int
	guidance float32
}

var (
	reSteps    = regexp.MustCompile(`num_inference_steps=(\d+)`)
	reGuidance = regexp.MustCompile(`guidance_scale=([0-9.]+)`)
)

func readLoopParams(fsys fs.FS) loopParams {
	p := loopParams{steps: 5, guidance: 4.5}
	b, err := fs.ReadFile(fsys, "README.md")
	if err != nil {
		return p
	}
	if m := reSteps.FindSubmatch(b); m != nil {
		if n, err := strconv.Atoi(string(m[1])); err == nil {
			p.steps = n
		}
	}
	if m := reGuidance.FindSubmatch(b); m != nil {
		if g, err := strconv.ParseFloat(string(m[1]), 32); err == nil {
			p.guidance = float32(g)
		}
	}
	return p
}

func (r *Runner) loop(ctx context.Context, fsys fs.FS) (*kernels.Tensor, error) {
	m, err := r.loadTransformer(fsys)
	if err != nil {
		return nil, err
	}
	sc, err := sampler.ReadConfig(fsys, "scheduler/scheduler_config.json")
	if err != nil {
		return nil, err
	}
	p := readLoopParams(fsys)
	s, err := sampler.New(sc, p.steps)
	if err != nil {
		return nil, err
	}
	in, err := weights.Open(fsys, "inputs.safetensors")
	if err != nil {
		return nil, err
	}
	defer in.Close()
	req, err := loopRequest(in, p)
	if err != nil {
		return nil, err
	}
	return sana.Denoise(ctx, m, s, req)
}

func loopRequest(in *weights.File, p loopParams) (sana.DenoiseRequest, error) {
	var firstErr error
	get := func(n string) *kernels.Tensor {
		t, err := in.Tensor(n)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("pipeline inputs: %w", err)
		}
		return t
	}
	req := sana.DenoiseRequest{
		PromptEmbeds: get("prompt_embeds"), PromptMask: get("prompt_attention_mask"),
		Latents: get("latents"), GuidanceScale: p.guidance,
	}
	if p.guidance > 1 {
		req.NegativeEmbeds, req.NegativeMask = get("negative_prompt_embeds"), get("negative_prompt_attention_mask")
	}
	return req, firstErr
}

// loopDecode decodes the loop's final latents as the pipeline does
// (latents / scaling_factor → vae.decode) and compares `decoded` and,
// after (x/2 + 0.5).clamp(0, 1), `image_pt` — those of them the case has.
func (r *Runner) loopDecode(ctx context.Context, fsys fs.FS, lat *kernels.Tensor, out *weights.File) (float64, error) {
	vae, err := loadVAE(fsys, r.Backend, dcae.PartDecoder)
	if err != nil {
		return 0, err
	}
	img, err := sana.Decode(ctx, vae, lat)
	if err != nil {
		return 0, err
	}
	worst := 0.0
	for name, got := range map[string]*kernels.Tensor{"decoded": img, "image_pt": sana.PostprocessPT(img)} {
		if _, ok := out.Info(name); !ok {
			continue
		}
		d, err := maxAbs(got, out, name)
		if err != nil {
			return 0, err
		}
		worst = math.Max(worst, d)
	}
	return worst, nil
}
