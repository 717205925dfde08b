package sana

import (
	"bytes"
	"context"
	"image"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/rng"
)

func mapFS(files map[string][]byte) fs.FS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: v}
	}
	return m
}

func loadTiny(t *testing.T, o TinyOptions) *Pipeline {
	t.Helper()
	files, err := tinyFiles(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), mapFS(files), Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer, Origin: "sana-tiny"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestTinyGenerate runs the whole pipeline on sana-tiny: tokenizer →
// Gemma-2 → CFG DPM-Solver loop → DC-AE → resize → pixels, and checks that
// an image depends only on (seed, index), not on the batch.
func TestTinyGenerate(t *testing.T) {
	p := loadTiny(t, TinyOptions{})
	req := Request{Prompts: []string{"a red fox", "a lighthouse"}, Width: 256, Height: 192, Steps: 3, Seed: 7, BatchSize: 2}
	var steps int
	req.Progress = func(Progress) { steps++ }
	start := time.Now()
	a, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2 images in %v (%v per image; gen %dx%d)", time.Since(start), time.Since(start)/2, a.GenWidth, a.GenHeight)
	if len(a.Images) != 2 || steps != 3 || a.GenWidth != 576 || a.GenHeight != 416 {
		t.Fatalf("%d images, %d progress calls, gen %dx%d", len(a.Images), steps, a.GenWidth, a.GenHeight)
	}
	if b := a.Images[0].Image.Bounds(); b != image.Rect(0, 0, 256, 192) {
		t.Fatalf("image bounds %v", b)
	}
	if bytes.Equal(a.Images[0].Image.Pix, a.Images[1].Image.Pix) {
		t.Error("two prompts gave the same image")
	}
	req.BatchSize, req.Progress = 1, nil
	req.Prompts = req.Prompts[1:]
	b, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// Sample 0 of the second request uses the same seed stream as sample 0
	// of the first but another prompt: same noise, different prompt.
	if bytes.Equal(b.Images[0].Image.Pix, a.Images[0].Image.Pix) {
		t.Error("prompt does not influence the image")
	}
	req.Prompts = []string{"a red fox", "a lighthouse"}
	c, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Images {
		if !bytes.Equal(c.Images[i].Image.Pix, a.Images[i].Image.Pix) {
			t.Errorf("image %d differs between batch size 2 and 1", i)
		}
	}
}

func TestTinySprint(t *testing.T) {
	p := loadTiny(t, TinyOptions{Sprint: true})
	if !p.Sprint() {
		t.Fatal("not a Sprint pipeline")
	}
	res, err := p.Generate(context.Background(), Request{Prompts: []string{"a cat"}, Width: 512, Height: 512, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Params.Steps != 2 || res.Images[0].Params.Sampler != SamplerSCM {
		t.Fatalf("sprint result: %+v", res.Images[0].Params)
	}
	if _, err := p.Generate(context.Background(), Request{Prompts: []string{"x"}, Sampler: SamplerEuler}); err == nil {
		t.Error("euler on a Sprint pipeline should fail")
	}
}

func TestGenerateErrors(t *testing.T) {
	p := loadTiny(t, TinyOptions{})
	cases := map[string]Request{
		"no prompts":      {},
		"bad sampler":     {Prompts: []string{"x"}, Sampler: "ddim", Steps: 1},
		"not multiple 32": {Prompts: []string{"x"}, Width: 100, Height: 100, NoBinning: true},
		"negative size":   {Prompts: []string{"x"}, Width: -1, Height: 5},
	}
	for name, r := range cases {
		if _, err := p.Generate(context.Background(), r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPresets(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Presets() {
		if seen[p.Name] || p.Size == 0 || p.Steps == 0 || (p.Repo == "") != (p.Name == TinyPreset) {
			t.Errorf("bad preset %+v", p)
		}
		seen[p.Name] = true
		if p.Sprint && p.Steps != 2 {
			t.Errorf("%s: Sprint default steps %d, want 2", p.Name, p.Steps)
		}
	}
	if len(seen) != 15 { // 10 diffusers, 4 NVlabs (docs/nvlabs.md), sana-tiny
		t.Errorf("%d presets, want 15", len(seen))
	}
	if _, err := LookupPreset("sana-9000"); err == nil || !strings.Contains(err.Error(), "sana-600m-512") {
		t.Errorf("unknown preset error should list valid names: %v", err)
	}
}

// TestLoadErrors checks that a broken pipeline folder names the file.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, want string
		edit       func(map[string][]byte)
	}{
		{"missing tokenizer", "tokenizer/tokenizer.json", func(f map[string][]byte) { delete(f, "tokenizer/tokenizer.json") }},
		{"corrupt weights", "transformer/diffusion_pytorch_model.safetensors", func(f map[string][]byte) {
			k := "transformer/diffusion_pytorch_model.safetensors"
			f[k] = f[k][:len(f[k])/2]
		}},
		{"mismatched weights", "vae/diffusion_pytorch_model.safetensors", func(f map[string][]byte) {
			f["vae/diffusion_pytorch_model.safetensors"] = f["transformer/diffusion_pytorch_model.safetensors"]
		}},
		{"bad scheduler", "scheduler/scheduler_config.json", func(f map[string][]byte) {
			f["scheduler/scheduler_config.json"] = []byte(`{"_class_name": "DDIMScheduler"}`)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files, err := tinyFiles(TinyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.edit(files)
			_, err = Load(context.Background(), mapFS(files), Options{Tokenizer: LoadTokenizer})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to name %s", err, c.want)
			}
		})
	}
}

// BenchmarkTinyGenerate times one sana-tiny image end to end at the
// preset defaults (512×512, 20 steps, CFG): prompt encoding, denoising,
// decoding and post-processing.
func BenchmarkTinyGenerate(b *testing.B) {
	files, err := tinyFiles(TinyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := Load(context.Background(), mapFS(files), Options{Tokenizer: LoadTokenizer})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	req := Request{Prompts: []string{"a red fox in a snowy forest"}, Width: 512, Height: 512, Steps: 20}
	for b.Loop() {
		res, err := p.Generate(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Timings.Decode.Seconds(), "decode-s/op")
	}
}

// TestDefaultNoiseIsTorch pins DefaultNoise to the torch-compatible
// stream of rng.SampleSeed, continued across calls.
func TestDefaultNoiseIsTorch(t *testing.T) {
	a := DefaultNoise{}.Sample(42, 3)
	g := rng.NewTorch(rng.SampleSeed(42, 3))
	want := append(g.Randn(8), g.Randn(20)...)
	got := append(a.Randn(8), a.Randn(20)...)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d = %g, want %g", i, got[i], want[i])
		}
	}
}
