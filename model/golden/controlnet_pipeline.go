package golden

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"slices"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sana"
)

// ClassControlNetPipeline is diffusers' SanaControlNetPipeline.
const ClassControlNetPipeline = "SanaControlNetPipeline"

// controlRun is one run of a ControlNet pipeline case's call.json.
type controlRun struct {
	Steps    int     `json:"num_inference_steps"`
	Guidance float64 `json:"guidance_scale"`
	Scale    float64 `json:"controlnet_conditioning_scale"`
}

// runControlPipeline runs a SanaControlNetPipeline case: the control
// image's preprocessing (exact) and latent, then per run every step's
// ControlNet samples, transformer output, guided noise and latents; for
// run main also the decode.
func (r *Runner) runControlPipeline(ctx context.Context, fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	var call struct {
		Runs map[string]controlRun `json:"runs"`
	}
	b, err := fs.ReadFile(fsys, "call.json")
	if err == nil {
		err = json.Unmarshal(b, &call)
	}
	if err != nil {
		return fail(fmt.Errorf("controlnet case: call.json: %w", err))
	}
	m, err := r.loadTransformer(fsys)
	if err != nil {
		return fail(err)
	}
	net, err := loadControlNet(fsys, r.Backend)
	if err != nil {
		return fail(err)
	}
	io, err := openIO(fsys)
	if err != nil {
		return fail(err)
	}
	defer io.Close()
	lat, res := r.controlLatent(ctx, fsys, io, name)
	if lat == nil {
		return []Result{res}
	}
	out := []Result{res}
	for _, run := range slices.Sorted(maps.Keys(call.Runs)) {
		c := sana.Control{Net: net, Latents: lat, Scale: float32(call.Runs[run].Scale)}
		out = append(out, r.controlOnce(ctx, fsys, m, io, name, run, call.Runs[run], c)...)
	}
	return out
}

// controlLatent preprocesses (exactly) and encodes the case's
// control_image, one row per prompt, and compares control_latent (whose
// rows are the CFG-duplicated batch).
func (r *Runner) controlLatent(ctx context.Context, fsys fs.FS, io files, name string) (*kernels.Tensor, Result) {
	res := Result{Case: name + "[control_latent]", Tol: r.tol(TolControlLatent)}
	fail := func(err error) (*kernels.Tensor, Result) { res.Err = err; return nil, res }
	x, err := preprocessedImage(io, "control_image")
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
	lat, err := sana.EncodeControl(ctx, vae, x, emb.Dim(0))
	if err != nil {
		return fail(err)
	}
	both := kernels.MustNew(kernels.Float32, append([]int{2 * lat.Dim(0)}, lat.Shape()[1:]...)...)
	copy(both.F32()[copy(both.F32(), lat.F32()):], lat.F32())
	if res.MaxAbs, res.Err = maxAbs(both, io.out, "control_latent"); res.Err != nil {
		return nil, res
	}
	return lat, res
}

func (r *Runner) controlOnce(ctx context.Context, fsys fs.FS, m *dit.Model, io files, name, run string, p controlRun, c sana.Control) []Result {
	label, prefix := runLabel(name, run)
	fail := func(err error) []Result { return []Result{{Case: label, Err: err}} }
	s, req, err := guidedLoop(fsys, io, p.Steps, p.Guidance)
	if err != nil {
		return fail(err)
	}
	req.Control = &c
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
	var res []Result
	if cmp.seenCtrl {
		res = append(res, Result{Case: label + "[controlnet]", MaxAbs: cmp.worstCtrl, Tol: r.tol(TolControlNet)})
	}
	if cmp.seenOut {
		res = append(res, Result{Case: label + "[transformer_output]", MaxAbs: cmp.worstOut, Tol: r.tol(TolControlNet)})
	}
	res = append(res, Result{Case: label + "[latents]", MaxAbs: math.Max(d, cmp.worstLat), Tol: r.tol(TolLoop)})
	if _, ok := io.out.Info(prefix + "decoded"); ok && exists(fsys, "vae/config.json") {
		dd, err := r.loopDecode(ctx, fsys, got, io.out)
		res = append(res, Result{Case: label + "[decoded]", MaxAbs: dd, Tol: r.tol(TolLoop), Err: err})
	}
	return res
}
