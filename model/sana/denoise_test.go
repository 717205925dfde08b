package sana

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/weights"
)

const loopCase = "../../testdata/golden/pipeline_loop"

func mustOpen(t *testing.T, name string) *weights.File {
	t.Helper()
	f, err := weights.Open(os.DirFS(loopCase), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func get(t *testing.T, f *weights.File, name string) *kernels.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestPipelineLoop reproduces diffusers' SanaPipeline loop (CFG 4.5, 5
// DPM-Solver steps) up to the final latent; README tolerance 5e-4.
func TestPipelineLoop(t *testing.T) {
	cfg, w, sc := loopModel(t)
	s, err := sampler.New(sc, 5)
	if err != nil {
		t.Fatal(err)
	}
	in, out := mustOpen(t, "inputs.safetensors"), mustOpen(t, "outputs.safetensors")
	steps, _, _ := out.Float64s("step_latents")
	var stepErr float64
	req := DenoiseRequest{
		PromptEmbeds: get(t, in, "prompt_embeds"), PromptMask: get(t, in, "prompt_attention_mask"),
		NegativeEmbeds: get(t, in, "negative_prompt_embeds"), NegativeMask: get(t, in, "negative_prompt_attention_mask"),
		Latents: get(t, in, "latents"), GuidanceScale: 4.5,
		OnStep: func(i, _ int, lat *kernels.Tensor) {
			n := lat.Len()
			stepErr = math.Max(stepErr, maxAbs(lat, steps[i*n:(i+1)*n]))
		},
	}
	got, err := Denoise(context.Background(), dit.New(cfg, w, cpu.New(cpu.Config{})), s, req)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := out.Float64s("final_latent")
	d := maxAbs(got, want)
	t.Logf("final_latent max_abs=%.3g (tol 5e-4); worst step latent %.3g", d, stepErr)
	if !(d <= 5e-4) {
		t.Errorf("final latent max abs diff %.3g > 5e-4", d)
	}
}

// loopModel loads the pipeline_loop case's transformer and scheduler.
func loopModel(t *testing.T) (dit.Config, *dit.Weights, sampler.Config) {
	t.Helper()
	fsys := os.DirFS(loopCase)
	cfg, err := dit.ReadConfig(fsys, "transformer/config.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := dit.Load(cfg, mustOpen(t, "transformer/diffusion_pytorch_model.safetensors"), "pipeline_loop")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sampler.ReadConfig(fsys, "scheduler/scheduler_config.json")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, w, sc
}

func maxAbs(got *kernels.Tensor, want []float64) float64 {
	worst := 0.0
	for i, w := range want {
		d := math.Abs(got.At(i) - w)
		if d > worst || math.IsNaN(d) {
			worst = d
		}
	}
	return worst
}

func TestDenoiseErrors(t *testing.T) {
	lat := kernels.MustNew(kernels.Float32, 1, 8, 2, 2)
	emb := kernels.MustNew(kernels.Float32, 1, 3, 48)
	mask := kernels.MustNew(kernels.Int64, 1, 3)
	cases := map[string]DenoiseRequest{
		"no latents":   {PromptEmbeds: emb, PromptMask: mask},
		"no negatives": {PromptEmbeds: emb, PromptMask: mask, Latents: lat, GuidanceScale: 4.5},
		"batch":        {PromptEmbeds: kernels.MustNew(kernels.Float32, 2, 3, 48), PromptMask: mask, Latents: lat},
	}
	for name, req := range cases {
		if _, err := Denoise(context.Background(), nil, nil, req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
