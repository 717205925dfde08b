package golden

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/model/weights"
)

// runTransformer runs a SanaTransformer2DModel case: model.safetensors →
// `sample`, and model.bf16.safetensors → `sample_bf16_weights_f32_compute`
// when both exist; in bf16 mode the variants of transformerBF16.
func (r *Runner) runTransformer(ctx context.Context, fsys fs.FS, name string) []Result {
	cfg, err := dit.ReadConfig(fsys, "config.json")
	if err != nil {
		return []Result{{Case: name, Err: err}}
	}
	io, err := openIO(fsys)
	if err != nil {
		return []Result{{Case: name, Err: err}}
	}
	defer io.Close()
	variants := []transformerVariant{
		{transformerWeights(fsys), "sample", "", TolTransformer},
		{"model.bf16.safetensors", "sample_bf16_weights_f32_compute", "[bf16]", TolTransformerBF16},
	}
	var res []Result
	if r.bf16() {
		variants, res = transformerBF16(fsys, name)
	}
	for i, v := range variants {
		_, hasOut := io.out.Info(v.output)
		if i > 0 && (!exists(fsys, v.weights) || !hasOut) {
			continue
		}
		d, err := r.transformerOnce(ctx, fsys, cfg, io, v.weights, v.output)
		res = append(res, Result{Case: name + v.suffix, MaxAbs: d, Tol: r.tol(v.tol), Err: err})
	}
	return res
}

func (r *Runner) transformerOnce(ctx context.Context, fsys fs.FS, cfg dit.Config, io files, wname, output string) (float64, error) {
	wf, closer, err := openWeights(fsys, wname)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	w, err := dit.Load(cfg, wf, wname)
	if err != nil {
		return 0, err
	}
	if strict, ok := wf.(interface{ CheckAllRead(string) error }); ok { // an NVlabs .pth: every tensor used
		if err := strict.CheckAllRead(wname); err != nil {
			return 0, err
		}
	}
	m := dit.New(cfg, w, r.Backend)
	get := func(n string) *kernels.Tensor {
		t, e := io.in.Tensor(n)
		if e != nil && err == nil {
			err = e
		}
		return t
	}
	enc, mask, x, ts := get("encoder_hidden_states"), get("encoder_attention_mask"), get("hidden_states"), get("timestep")
	var g []float32
	if _, ok := io.in.Info("guidance"); ok {
		if gt := get("guidance"); gt != nil {
			g = gt.F32()
		}
	}
	if err != nil {
		return 0, err
	}
	cd, err := m.PrepareCond(ctx, enc, mask)
	if err != nil {
		return 0, err
	}
	out, err := m.Forward(ctx, x, ts.F32(), g, cd)
	if err != nil {
		return 0, err
	}
	host := kernels.MustNew(kernels.Float32, out.Shape()...)
	if err := r.Backend.Copy(host, out); err != nil {
		return 0, err
	}
	return maxAbs(host, io.out, output)
}

// runScheduler checks the grids of every n<N> in the outputs (timesteps
// exactly, sigmas to 1e-7) and replays every run<N> with the golden
// format's deterministic model v = 0.5·x + 0.1·(t/1000) + c.
func (r *Runner) runScheduler(fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	cfg, err := sampler.ReadConfig(fsys, "scheduler_config.json")
	if err != nil {
		return fail(err)
	}
	io, err := openIO(fsys)
	if err != nil {
		return fail(err)
	}
	defer io.Close()
	worst := 0.0
	for _, n := range stepCounts(io.out) {
		d, err := checkGrid(cfg, io.out, n)
		if err != nil {
			return fail(err)
		}
		worst = math.Max(worst, d)
		if _, ok := io.out.Info(fmt.Sprintf("run%d.latents", n)); ok {
			d, err := replay(cfg, io, n)
			if err != nil {
				return fail(err)
			}
			worst = math.Max(worst, d)
		}
	}
	return []Result{{Case: name, MaxAbs: worst, Tol: r.tol(TolScheduler)}}
}

// stepCounts lists N for every n<N>.timesteps or run<N>.latents output.
func stepCounts(out *weights.File) []int {
	var ns []int
	for _, k := range out.Header.Names() {
		var s string
		switch {
		case strings.HasPrefix(k, "n") && strings.HasSuffix(k, ".timesteps"):
			s = strings.TrimSuffix(strings.TrimPrefix(k, "n"), ".timesteps")
		case strings.HasPrefix(k, "run") && strings.HasSuffix(k, ".latents"):
			s = strings.TrimSuffix(strings.TrimPrefix(k, "run"), ".latents")
		}
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 10000 && !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns
}

func checkGrid(cfg sampler.Config, out *weights.File, n int) (float64, error) {
	s, err := sampler.New(cfg, n)
	if err != nil {
		return 0, err
	}
	worst := 0.0
	if ts, _, err := out.Float64s(fmt.Sprintf("n%d.timesteps", n)); err == nil {
		for i, w := range ts {
			if i < s.Steps() && float64(s.Timestep(i)) != w {
				return math.Inf(1), fmt.Errorf("n%d.timesteps[%d] = %v, reference %v (must match exactly)", n, i, s.Timestep(i), w)
			}
		}
	}
	if sg, _, err := out.Float64s(fmt.Sprintf("n%d.sigmas", n)); err == nil && len(sg) == len(s.Sigmas()) {
		for i, w := range sg {
			worst = math.Max(worst, math.Abs(float64(s.Sigmas()[i])-w))
		}
	}
	return worst, nil
}

func replay(cfg sampler.Config, io files, n int) (float64, error) {
	s, err := sampler.New(cfg, n)
	if err != nil {
		return 0, err
	}
	x0, err := io.in.Tensor("initial_latent")
	if err != nil {
		return 0, err
	}
	c, err := io.in.Tensor("c")
	if err != nil {
		return 0, err
	}
	want, _, err := io.out.Float64s(fmt.Sprintf("run%d.latents", n))
	if err != nil {
		return 0, err
	}
	x, v := slices.Clone(x0.F32()), make([]float32, x0.Len())
	if len(want) < (n+1)*len(x) {
		return 0, fmt.Errorf("run%d.latents has %d values, want %d", n, len(want), (n+1)*len(x))
	}
	worst := 0.0
	for i := 0; i < n; i++ {
		tt := s.Timestep(i) / 1000
		for j := range x {
			v[j] = 0.5*x[j] + 0.1*tt + c.F32()[j]
		}
		if err := s.Step(i, v, x); err != nil {
			return 0, err
		}
		for j := range x {
			worst = math.Max(worst, math.Abs(float64(x[j])-want[(i+1)*len(x)+j]))
		}
	}
	return worst, nil
}

// runLoop runs a model_index.json pipeline case through the denoising loop
// and compares `final_latent` and, when the case has a vae/ folder,
// `decoded` and `image_pt` too; one result, the worst over the outputs.
func (r *Runner) runLoop(ctx context.Context, fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	if class, err := className(fsys, "model_index.json"); err == nil && r.bf16() && (class == sana.ClassSprintPipeline ||
		class == sana.ClassSprintImg2ImgPipeline || class == ClassPAGPipeline || class == ClassControlNetPipeline) {
		return f32Only(name)
	}
	if class, err := className(fsys, "model_index.json"); err == nil && (class == sana.ClassSprintPipeline || class == sana.ClassSprintImg2ImgPipeline) {
		return r.runSprint(ctx, fsys, name)
	}
	if class, err := className(fsys, "model_index.json"); err == nil && class == ClassPAGPipeline {
		return r.runPAG(ctx, fsys, name)
	}
	if class, err := className(fsys, "model_index.json"); err == nil && class == ClassControlNetPipeline {
		return r.runControlPipeline(ctx, fsys, name)
	}
	idx, err := jsonNames(fsys, "model_index.json")
	if err != nil {
		return fail(err)
	}
	if _, ok := idx["transformer"]; !ok {
		return fail(fmt.Errorf("%w: model_index.json has no transformer", ErrUnknownCase))
	}
	got, err := r.loop(ctx, fsys)
	if err != nil {
		return fail(err)
	}
	io, err := openIO(fsys)
	if err != nil {
		return fail(err)
	}
	defer io.Close()
	d, err := maxAbs(got, io.out, "final_latent")
	if err == nil && exists(fsys, "vae/config.json") {
		var dd float64
		dd, err = r.loopDecode(ctx, fsys, got, io.out)
		d = math.Max(d, dd)
	}
	return []Result{{Case: name, MaxAbs: d, Tol: r.tolFor(TolLoop, TolLoopBF16), Err: err}}
}
