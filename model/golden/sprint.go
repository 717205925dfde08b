package golden

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"slices"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Tolerances of the Sprint pipeline cases (their READMEs): the per-step
// transformer output, and the scheduler's samples and final latents.
const (
	TolSprintTransformer = 1e-4
	TolSprintLatent      = 2e-4
)

// sprintRun is one run of a Sprint pipeline case's call.json: the outputs
// of run "main" are unprefixed, the others prefixed "<run>.".
type sprintRun struct {
	Steps        int      `json:"num_inference_steps"`
	MaxT         *float64 `json:"max_timesteps"`
	Intermediate *float64 `json:"intermediate_timesteps"`
	Guidance     float64  `json:"guidance_scale"`
	Strength     *float64 `json:"strength"`
	Output       string   `json:"output_type"`
}

type sprintCall struct {
	Pipeline string               `json:"pipeline"`
	Runs     map[string]sprintRun `json:"runs"`
}

func readSprintCall(fsys fs.FS) (sprintCall, error) {
	var c sprintCall
	b, err := fs.ReadFile(fsys, "call.json")
	if err != nil {
		return c, fmt.Errorf("sprint case: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("sprint case: call.json: %w", err)
	}
	if _, ok := c.Runs["main"]; !ok {
		return c, fmt.Errorf("sprint case: call.json has no run %q", "main")
	}
	return c, nil
}

// sprintScheduler is the SCM of one run: the case's scheduler config with
// the call's max/intermediate timesteps (a null intermediate means the
// linspace schedule).
func sprintScheduler(fsys fs.FS, run sprintRun) (sampler.SCMConfig, *sampler.SCM, error) {
	c, err := sampler.ReadSCMConfig(fsys, "scheduler/scheduler_config.json")
	if err != nil {
		return c, nil, err
	}
	if run.MaxT != nil {
		c.MaxTimesteps = weights.Float(*run.MaxT)
	}
	c.IntermediateTimesteps = nil
	if run.Intermediate != nil {
		v := weights.Float(*run.Intermediate)
		c.IntermediateTimesteps = &v
	}
	s, err := sampler.NewSCM(c, run.Steps, nil)
	return c, s, err
}

// runSprint runs a SanaSprintPipeline case: per run, the schedule exactly,
// every step's transformer output, samples and the final latents; for
// run main also the decode.
func (r *Runner) runSprint(ctx context.Context, fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	call, err := readSprintCall(fsys)
	if err != nil {
		return fail(err)
	}
	m, io, err := r.loadTransformerIO(fsys)
	if err != nil {
		return fail(err)
	}
	defer io.Close()
	var img *sprintImage
	var res []Result
	if call.Pipeline == sana.ClassSprintImg2ImgPipeline {
		var r0 Result
		img, r0 = r.sprintEncode(ctx, fsys, io, name)
		if res = append(res, r0); img == nil {
			return res
		}
	}
	runs := make([]string, 0, len(call.Runs))
	for k := range call.Runs {
		runs = append(runs, k)
	}
	slices.Sort(runs) // "extra" < "main": deterministic order
	for _, run := range runs {
		prefix := run + "."
		if run == "main" {
			prefix = ""
		}
		res = append(res, r.sprintOnce(ctx, fsys, m, io, name, prefix, call.Runs[run], img)...)
	}
	return res
}

// sprintOnce replays one run and returns its results: schedule, transformer
// outputs, scheduler samples (+ final latents), and decode when present.
func (r *Runner) sprintOnce(ctx context.Context, fsys fs.FS, m *dit.Model, io files, name, prefix string, run sprintRun, img *sprintImage) []Result {
	label := name
	if prefix != "" {
		label += "[" + prefix[:len(prefix)-1] + "]"
	}
	fail := func(err error) []Result { return []Result{{Case: label, Err: err}} }
	c, s, err := sprintScheduler(fsys, run)
	if err != nil {
		return fail(err)
	}
	if d, err := exactF32(s.Timesteps(), io.out, prefix+"scheduler_timesteps"); err != nil || d != 0 {
		return fail(fmt.Errorf("scheduler_timesteps differ by %g (must match exactly): %v", d, err))
	}
	var req sana.SprintRequest
	if img == nil {
		req, err = sprintRequest(io.in, prefix, s, float32(run.Guidance), nil)
	} else {
		s, req, err = img.request(c, s, io.in, prefix, run)
	}
	if err != nil {
		return fail(err)
	}
	cmp := newStepCompare(io.out, prefix, s.Steps(), req.Latents.Len())
	req.OnStep = cmp.step
	got, err := sana.SprintDenoise(ctx, m, s, req)
	if err == nil {
		err = cmp.err
	}
	if err != nil {
		return fail(err)
	}
	d, err := maxAbs(got, io.out, prefix+"final_latent")
	if err != nil {
		return fail(err)
	}
	res := []Result{
		{Case: label + "[transformer_output]", MaxAbs: cmp.worstOut, Tol: r.tol(TolSprintTransformer)},
		{Case: label + "[latents]", MaxAbs: math.Max(d, cmp.worstLat), Tol: r.tol(TolSprintLatent)},
	}
	if _, ok := io.out.Info(prefix + "decoded"); ok && exists(fsys, "vae/config.json") {
		dd, err := r.loopDecode(ctx, fsys, got, io.out)
		res = append(res, Result{Case: label + "[decoded]", MaxAbs: dd, Tol: r.tol(TolLoop), Err: err})
	}
	return res
}

// sprintRequest builds the loop input of a run: the recorded step noise
// and lat, or for text-to-image (lat nil) the initial noise times σ_d.
func sprintRequest(in *weights.File, prefix string, s *sampler.SCM, guidance float32, lat *kernels.Tensor) (sana.SprintRequest, error) {
	var firstErr error
	get := func(n string) *kernels.Tensor {
		t, err := in.Tensor(n)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("pipeline inputs: %w", err)
		}
		return t
	}
	req := sana.SprintRequest{PromptEmbeds: get("prompt_embeds"), PromptMask: get("prompt_attention_mask"), Guidance: guidance}
	noise := get(prefix + "scheduler_noise")
	req.Latents = lat
	if lat == nil {
		if lat = get("latents"); firstErr == nil {
			req.Latents = lat.Clone()
			for i, v := range req.Latents.F32() {
				req.Latents.F32()[i] = v * s.SigmaData()
			}
		}
	}
	if firstErr != nil {
		return req, firstErr
	}
	return req, withNoise(&req, noise, s.Steps())
}

// withNoise sets req.Noise to the recorded draws [steps, B, C, h, w].
func withNoise(req *sana.SprintRequest, noise *kernels.Tensor, steps int) error {
	per := req.Latents.Len()
	if noise.Len() != steps*per {
		return fmt.Errorf("scheduler_noise %v does not hold %d steps of latents %v", noise.Shape(), steps, req.Latents.Shape())
	}
	req.Noise = func(i int) []float32 { return slices.Clone(noise.F32()[i*per : (i+1)*per]) }
	return nil
}

// stepCompare compares every step's intermediates with the reference
// [steps, ...] outputs as the loop runs.
type stepCompare struct {
	ref                map[string][]float64
	per                int
	worstOut, worstLat float64
	err                error
}

func newStepCompare(out *weights.File, prefix string, steps, per int) *stepCompare {
	c := &stepCompare{ref: map[string][]float64{}, per: per}
	for _, k := range []string{"transformer_input", "transformer_output", "step_model_output", "step_sample", "step_denoised", "step_prev_sample", "transformer_timestep", "transformer_guidance"} {
		v, _, err := out.Float64s(prefix + k)
		if err != nil {
			if c.err == nil {
				c.err = err
			}
			continue
		}
		c.ref[k] = v
	}
	return c
}

func (c *stepCompare) step(st sana.SprintStep) {
	if c.err != nil {
		return
	}
	diff := func(k string, got []float32, n int) float64 {
		ref := c.ref[k]
		if len(ref) < (st.Index+1)*n || len(got) != n {
			c.err = fmt.Errorf("output %s: %d values for step %d, want %d per step", k, len(ref), st.Index, n)
			return math.Inf(1)
		}
		w := 0.0
		for j, g := range got {
			d := math.Abs(float64(g) - ref[st.Index*n+j])
			if math.IsNaN(d) {
				return math.Inf(1)
			}
			w = math.Max(w, d)
		}
		return w
	}
	b := len(c.ref["transformer_timestep"]) / max(st.Total, 1)
	scalars := math.Max(diff("transformer_timestep", fillF(b, st.Tau), b), diff("transformer_guidance", fillF(b, st.Guidance), b))
	c.worstOut = max(c.worstOut, diff("transformer_output", st.Output, c.per), diff("transformer_input", st.Input, c.per), scalars)
	c.worstLat = max(c.worstLat, diff("step_sample", st.Sample, c.per), diff("step_model_output", st.ModelOutput, c.per),
		diff("step_denoised", st.Denoised, c.per), diff("step_prev_sample", st.PrevSample, c.per))
}

func fillF(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// exactF32 is the max abs difference of got and a reference output.
func exactF32(got []float32, out *weights.File, name string) (float64, error) {
	t, err := kernels.FromF32(slices.Clone(got), len(got))
	if err != nil {
		return 0, err
	}
	return maxAbs(t, out, name)
}
