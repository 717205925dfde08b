package golden

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/controlnet"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Tolerances of the ControlNet cases (their READMEs).
const (
	TolControlNet    = 1e-4 // block samples, module and per step
	TolControlLatent = 5e-4 // the DC-AE encoded control image
)

// controlScale reads conditioning_scale=<x> from a case README (default
// that of controlnet_sana).
func controlScale(fsys fs.FS) float32 {
	b, err := fs.ReadFile(fsys, "README.md")
	if err != nil {
		return 0.7
	}
	s := string(b)
	i := strings.Index(s, "conditioning_scale=")
	var v float64
	if i < 0 {
		return 0.7
	}
	if _, err := fmt.Sscanf(s[i+len("conditioning_scale="):], "%g", &v); err != nil {
		return 0.7
	}
	return float32(v)
}

// runControlNet runs a SanaControlNetModel module case: every
// controlnet_block_samples.<i> output.
func (r *Runner) runControlNet(ctx context.Context, fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	cfg, err := controlnet.ReadConfig(fsys, "config.json")
	if err != nil {
		return fail(err)
	}
	io, wf, err := openModule(fsys)
	if err != nil {
		return fail(err)
	}
	defer io.Close()
	defer wf.Close()
	w, err := controlnet.Load(cfg, wf, "model.safetensors")
	if err != nil {
		return fail(err)
	}
	m := controlnet.New(cfg, w, r.Backend)
	get := func(n string) *kernels.Tensor {
		t, e := io.in.Tensor(n)
		if e != nil && err == nil {
			err = e
		}
		return t
	}
	enc, mask, x, cond, ts := get("encoder_hidden_states"), get("encoder_attention_mask"), get("hidden_states"), get("controlnet_cond"), get("timestep")
	if err != nil {
		return fail(err)
	}
	cd, err := m.PrepareCond(ctx, enc, mask)
	if err != nil {
		return fail(err)
	}
	samples, err := m.Control(ctx, x, cond, ts.F32(), cd, controlScale(fsys))
	if err != nil {
		return fail(err)
	}
	worst := 0.0
	for i, s := range samples {
		d, err := r.hostMaxAbs(s, io.out, fmt.Sprintf("controlnet_block_samples.%d", i))
		if err != nil {
			return fail(err)
		}
		worst = math.Max(worst, d)
	}
	return []Result{{Case: name, MaxAbs: worst, Tol: r.tolFor(TolControlNet, TolTransformerBF16Compute)}}
}

// hostMaxAbs copies a backend tensor to the host and compares it.
func (r *Runner) hostMaxAbs(t *kernels.Tensor, out *weights.File, want string) (float64, error) {
	host := kernels.MustNew(kernels.Float32, t.Shape()...)
	if err := r.Backend.Copy(host, t); err != nil {
		return 0, err
	}
	return maxAbs(host, out, want)
}
