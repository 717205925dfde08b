package shard

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/model/weights"
)

// loadTiny loads the sana-tiny pipeline; with tr set, its transformer is
// this rank's part of a parallel model (the hook a node would use).
func loadTiny(t testing.TB, dir string, mode Mode, tr Transport) (*sana.Pipeline, error) {
	opts := sana.Options{Backend: cpu.New(cpu.Config{}), Tokenizer: sana.LoadTokenizer, Origin: "sana-tiny"}
	if tr != nil {
		opts.Transformer = func(cfg dit.Config, w *dit.Weights, be kernels.Backend) (sana.Transformer, error) {
			return NewModel(mode, cfg, w, be, tr)
		}
	}
	p, err := sana.Load(context.Background(), os.DirFS(dir), opts)
	if err == nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

// TestTinyGeneration generates a sana-tiny image (tokenizer, Gemma-2, CFG
// DPM-Solver loop, DC-AE) with the parallel transformer on every rank and
// compares the pixels with the single-rank generation.
func TestTinyGeneration(t *testing.T) {
	dir := t.TempDir()
	if err := sana.WriteTinyPipeline(dir, sana.TinyOptions{}); err != nil {
		t.Fatal(err)
	}
	req := sana.Request{Prompts: []string{"a red fox"}, Width: 256, Height: 192, Steps: 3, Seed: 7}
	single, err := loadTiny(t, dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := single.Generate(timeoutCtx(t, 5*testTimeout), req)
	if err != nil {
		t.Fatal(err)
	}
	url := startNATS(t, 0)
	for _, c := range []struct {
		kind string
		plan Plan
	}{{"loop", Plan{TP, 2}}, {"nats", Plan{TP, 2}}, {"loop", Plan{SP, 4}}, {"nats", Plan{SP, 3}}, {"loop", Plan{CFG, 2}}, {"nats", Plan{CFG, 2}}} {
		t.Run(c.kind+"/"+c.plan.String(), func(t *testing.T) {
			ts := group(t, c.kind, url, c.plan.Degree, F32)
			ctx := timeoutCtx(t, 5*testTimeout)
			pix, err := onRanks(c.plan.Degree, func(k int) ([]byte, error) {
				p, err := loadTiny(t, dir, c.plan.Mode, ts[k])
				if err != nil {
					return nil, err
				}
				res, err := p.Generate(ctx, req)
				if err != nil {
					return nil, err
				}
				return res.Images[0].Image.Pix, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for k, px := range pix {
				if d := pixDiff(px, want.Images[0].Image.Pix); d > 1 {
					t.Errorf("rank %d: max pixel difference %d", k, d)
				} else {
					t.Logf("rank %d: max pixel difference %d of %d bytes", k, d, len(px))
				}
			}
		})
	}
}

func pixDiff(a, b []byte) int {
	if len(a) != len(b) {
		panic(fmt.Sprintf("pixel buffers of %d and %d bytes", len(a), len(b)))
	}
	worst := 0
	for i := range a {
		worst = max(worst, abs(int(a[i])-int(b[i])))
	}
	return worst
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestDenoiseLoop runs diffusers' CFG loop case (5 DPM-Solver steps, CFG
// 4.5) with each parallel mode and compares the final latents with the
// single-rank loop.
func TestDenoiseLoop(t *testing.T) {
	fsys := os.DirFS("../testdata/golden/pipeline_loop")
	cfg, err := dit.ReadConfig(fsys, "transformer/config.json")
	if err != nil {
		t.Fatal(err)
	}
	wf, err := weights.Open(fsys, "transformer/diffusion_pytorch_model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wf.Close() })
	w, err := dit.Load(cfg, wf, "pipeline_loop")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sampler.ReadConfig(fsys, "scheduler/scheduler_config.json")
	if err != nil {
		t.Fatal(err)
	}
	in, err := weights.Open(fsys, "inputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	get := func(name string) *kernels.Tensor {
		x, err := in.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	req := sana.DenoiseRequest{PromptEmbeds: get("prompt_embeds"), PromptMask: get("prompt_attention_mask"),
		NegativeEmbeds: get("negative_prompt_embeds"), NegativeMask: get("negative_prompt_attention_mask"),
		Latents: get("latents"), GuidanceScale: 4.5}
	run := func(ctx context.Context, m sana.Transformer) (*kernels.Tensor, error) {
		s, err := sampler.New(sc, 5)
		if err != nil {
			return nil, err
		}
		return sana.Denoise(ctx, m, s, req)
	}
	be := cpu.New(cpu.Config{})
	want, err := run(timeoutCtx(t, testTimeout), dit.New(cfg, w, be))
	if err != nil {
		t.Fatal(err)
	}
	url := startNATS(t, 0)
	for _, kind := range transportKinds {
		for _, p := range []Plan{{TP, 2}, {SP, 2}, {SP, 4}, {CFG, 2}} {
			t.Run(kind+"/"+p.String(), func(t *testing.T) {
				ts := group(t, kind, url, p.Degree, F32)
				ctx := timeoutCtx(t, testTimeout)
				diffs, err := onRanks(p.Degree, func(k int) (float64, error) {
					m, err := NewModel(p.Mode, cfg, w, be, ts[k])
					if err != nil {
						return 0, err
					}
					got, err := run(ctx, m)
					if err != nil {
						return 0, err
					}
					return maxDiff(got, want), nil
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("final latents max_abs per rank %v", diffs)
				for k, d := range diffs {
					if !(d <= 1e-4) {
						t.Errorf("rank %d: final latents differ by %.3g > 1e-4", k, d)
					}
				}
			})
		}
	}
}
