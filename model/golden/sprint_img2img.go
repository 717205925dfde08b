package golden

import (
	"context"
	"fmt"
	"io/fs"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/model/weights"
)

// TolImageLatent is the DC-AE encoder's tolerance in the Sprint img2img
// case (latents up to about 28).
const TolImageLatent = 5e-4

// sprintImage is the encoded input image of an img2img case:
// z·scaling_factor·σ_d, one row per prompt.
type sprintImage struct{ latents *kernels.Tensor }

// sprintEncode preprocesses and encodes the case's `image` and compares
// `image_preprocessed` (bit-exact) and `image_latent_raw`.
func (r *Runner) sprintEncode(ctx context.Context, fsys fs.FS, io files, name string) (*sprintImage, Result) {
	res := Result{Case: name + "[image_latent]", Tol: r.tol(TolImageLatent)}
	fail := func(err error) (*sprintImage, Result) { res.Err = err; return nil, res }
	x, err := preprocessedImage(io, "image")
	if err != nil {
		return fail(err)
	}
	vae, err := loadVAE(fsys, r.Backend, dcae.PartEncoder)
	if err != nil {
		return fail(err)
	}
	emb, err := io.in.Tensor("prompt_embeds")
	if err != nil {
		return fail(err)
	}
	sc, err := sampler.ReadSCMConfig(fsys, "scheduler/scheduler_config.json")
	if err != nil {
		return fail(err)
	}
	scaled, raw, err := sana.EncodeImage(ctx, vae, x, emb.Dim(0), float32(sc.SigmaData))
	if err != nil {
		return fail(err)
	}
	res.MaxAbs, res.Err = maxAbs(raw, io.out, "image_latent_raw")
	return &sprintImage{latents: scaled}, res
}

// request cuts the schedule at the run's strength and builds the noised
// image latents from the recorded prepare_latents draw.
func (img *sprintImage) request(c sampler.SCMConfig, full *sampler.SCM, in *weights.File, prefix string, run sprintRun) (*sampler.SCM, sana.SprintRequest, error) {
	var req sana.SprintRequest
	if run.Strength == nil || math.IsNaN(*run.Strength) {
		return nil, req, fmt.Errorf("call.json: img2img run without strength")
	}
	start, err := sana.SprintStart(full.Steps(), *run.Strength)
	if err != nil {
		return nil, req, err
	}
	ts := full.Timesteps()[start:]
	s, err := sampler.NewSCM(c, len(ts)-1, ts)
	if err != nil {
		return nil, req, err
	}
	noise, err := in.Tensor(prefix + "prepare_latents_noise")
	if err != nil {
		return nil, req, fmt.Errorf("pipeline inputs: %w", err)
	}
	lat, err := sana.NoisedLatents(img.latents, ts[0], s.SigmaData(), noise.F32())
	if err != nil {
		return nil, req, err
	}
	req, err = sprintRequest(in, prefix, s, float32(run.Guidance), lat)
	return s, req, err
}
