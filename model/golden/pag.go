package golden

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/model/weights"
)

// ClassPAGPipeline is diffusers' SanaPAGPipeline (model_index.json).
const ClassPAGPipeline = "SanaPAGPipeline"

// Tolerances of the pipeline_pag case (its README): the per-step
// transformer output, and latents / guided noise.
const (
	TolPAGTransformer = 1e-4
	TolPAGLatent      = 5e-4
)

// pagRun is one run of a PAG case's call.json.
type pagRun struct {
	Steps    int      `json:"num_inference_steps"`
	Guidance float64  `json:"guidance_scale"`
	Scale    float64  `json:"pag_scale"`
	Adaptive float64  `json:"pag_adaptive_scale"`
	Output   string   `json:"output_type"`
	Negative *float64 `json:"negative_prompt_embeds"` // null: no negative embeddings
}

type pagCall struct {
	Layers []string          `json:"pag_applied_layers"`
	Runs   map[string]pagRun `json:"runs"`
}

// pagBlocks maps pag_applied_layers "transformer_blocks.<i>" to block
// indices.
func pagBlocks(layers []string) ([]int, error) {
	var out []int
	for _, l := range layers {
		n, err := strconv.Atoi(strings.TrimPrefix(l, "transformer_blocks."))
		if err != nil || !strings.HasPrefix(l, "transformer_blocks.") {
			return nil, fmt.Errorf("pag case: layer %q, want transformer_blocks.<i>", l)
		}
		out = append(out, n)
	}
	return out, nil
}

// runPAG runs a SanaPAGPipeline case: per run of call.json, every step's
// transformer input/timestep/output, the guided noise, step latents and
// final latents; for run main also the decode.
func (r *Runner) runPAG(ctx context.Context, fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	var call pagCall
	b, err := fs.ReadFile(fsys, "call.json")
	if err == nil {
		err = json.Unmarshal(b, &call)
	}
	if err != nil {
		return fail(fmt.Errorf("pag case: call.json: %w", err))
	}
	blocks, err := pagBlocks(call.Layers)
	if err != nil {
		return fail(err)
	}
	m, io, err := r.loadTransformerIO(fsys)
	if err != nil {
		return fail(err)
	}
	defer io.Close()
	runs := make([]string, 0, len(call.Runs))
	for k := range call.Runs {
		runs = append(runs, k)
	}
	slices.Sort(runs)
	var res []Result
	for _, run := range runs {
		res = append(res, r.pagOnce(ctx, fsys, m, io, name, run, call.Runs[run], blocks)...)
	}
	return res
}

func (r *Runner) pagOnce(ctx context.Context, fsys fs.FS, m *dit.Model, io files, name, run string, p pagRun, blocks []int) []Result {
	label, prefix := runLabel(name, run)
	fail := func(err error) []Result { return []Result{{Case: label, Err: err}} }
	s, req, err := guidedLoop(fsys, io, p.Steps, p.Guidance)
	if err != nil {
		return fail(err)
	}
	req.PAG = sana.PAG{Scale: float32(p.Scale), AdaptiveScale: float32(p.Adaptive), Blocks: blocks}
	cmp := &pagCompare{out: io.out, prefix: prefix}
	req.OnModel, req.OnStep = cmp.model, cmp.step
	got, err := sana.Denoise(ctx, m, s, req)
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
	res := []Result{{Case: label + "[latents]", MaxAbs: math.Max(d, cmp.worstLat), Tol: r.tol(TolPAGLatent)}}
	if cmp.seenOut {
		res = append([]Result{{Case: label + "[transformer_output]", MaxAbs: cmp.worstOut, Tol: r.tol(TolPAGTransformer)}}, res...)
	}
	if _, ok := io.out.Info(prefix + "decoded"); ok && exists(fsys, "vae/config.json") {
		dd, err := r.loopDecode(ctx, fsys, got, io.out)
		res = append(res, Result{Case: label + "[decoded]", MaxAbs: dd, Tol: r.tol(TolLoop), Err: err})
	}
	return res
}

// pagCompare compares each step with the [steps, ...] reference outputs
// of a run that the case has (runs record different subsets); the PAG and
// ControlNet pipeline cases share it.
type pagCompare struct {
	out                *weights.File
	prefix             string
	worstOut, worstLat float64
	seenOut            bool
	worstCtrl          float64 // ControlNet block samples
	seenCtrl           bool
	err                error
}

// diff is the max abs difference of got and step i of output k; false
// when the run has no such output.
func (c *pagCompare) diff(k string, i int, got []float32) (float64, bool) {
	if _, ok := c.out.Info(c.prefix + k); !ok || c.err != nil {
		return 0, false
	}
	ref, _, err := c.out.Float64s(c.prefix + k)
	n := len(got)
	if err == nil && len(ref) < (i+1)*n {
		err = fmt.Errorf("output %s%s: %d values, want %d per step", c.prefix, k, len(ref), n)
	}
	if err != nil {
		c.err = err
		return 0, false
	}
	w := 0.0
	for j, g := range got {
		d := math.Abs(float64(g) - ref[i*n+j])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		w = math.Max(w, d)
	}
	return w, true
}

func (c *pagCompare) model(st sana.ModelStep) {
	for k, got := range map[string][]float32{"transformer_input": st.Input.F32(), "transformer_timestep": st.Timestep, "transformer_output": st.Output} {
		if d, ok := c.diff(k, st.Index, got); ok {
			c.worstOut, c.seenOut = math.Max(c.worstOut, d), true
		}
	}
	for k, got := range map[string][]float32{"controlnet_input": st.Input.F32(), "controlnet_timestep": st.Timestep} {
		if d, ok := c.diff(k, st.Index, got); ok {
			c.worstOut = math.Max(c.worstOut, d)
		}
	}
	if len(st.Control) > 0 {
		var all []float32
		for _, s := range st.Control {
			all = append(all, s...)
		}
		if d, ok := c.diff("controlnet_block_samples", st.Index, all); ok {
			c.worstCtrl, c.seenCtrl = math.Max(c.worstCtrl, d), true
		}
	}
	if d, ok := c.diff("guided_noise", st.Index, st.Guided); ok {
		c.worstLat = math.Max(c.worstLat, d)
	}
}

func (c *pagCompare) step(i, _ int, lat *kernels.Tensor) {
	if d, ok := c.diff("step_latents", i, lat.F32()); ok {
		c.worstLat = math.Max(c.worstLat, d)
	}
}
