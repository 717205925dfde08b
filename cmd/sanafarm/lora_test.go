package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/sana"
)

func TestParseLoRASpec(t *testing.T) {
	for _, c := range []struct {
		in, source string
		weight     float64
		err        bool
	}{
		{"a.safetensors", "a.safetensors", 1, false},
		{"a.safetensors:0.8", "a.safetensors", 0.8, false},
		{"a.safetensors:-1.5", "a.safetensors", -1.5, false},
		{"hf://o/r/x.safetensors", "hf://o/r/x.safetensors", 1, false},
		{"hf://o/r/x.safetensors:1.3", "hf://o/r/x.safetensors", 1.3, false},
		{"hf://o/r@v1:0.5", "hf://o/r@v1/" + defaultLoRAFile, 0.5, false},
		{"hf://o/r", "hf://o/r/" + defaultLoRAFile, 1, false},
		{"a.safetensors:NaN", "", 0, true},
		{":0.5", "", 0, true},
	} {
		got, err := parseLoRASpec(c.in)
		if (err != nil) != c.err || !c.err && (got.source != c.source || got.weight != c.weight) {
			t.Errorf("%q: %+v, %v; want %q %g (error %v)", c.in, got, err, c.source, c.weight, c.err)
		}
	}
}

// TestGenerateLoRA: --lora FILE:WEIGHT and --lora-scale reach the PNG's
// parameters (source, sha256, weight); a missing file is a clear error.
func TestGenerateLoRA(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	file := "../../testdata/golden/lora_sana/lora/pytorch_lora_weights.safetensors"
	out := filepath.Join(t.TempDir(), "x.png")
	var stdout, stderr bytes.Buffer
	args := []string{"generate", "--model", "sana-tiny", "-p", "a fox", "--steps", "1", "--width", "64", "--height", "64",
		"--lora", file + ":0.7", "--lora-scale", "0.5", "-q", "--dest", out}
	meta, params := generateMeta(t, args, out)
	if len(meta.LoRA) != 1 || meta.LoRA[0].Source != file || meta.LoRA[0].Weight != 0.7 || len(meta.LoRA[0].SHA256) != 64 || meta.LoRAScale != 0.5 {
		t.Errorf("parameters %s", params)
	}
	stderr.Reset()
	args[len(args)-6] = "missing.safetensors"
	if code := run(context.Background(), args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "missing.safetensors") {
		t.Errorf("missing LoRA: exit %d, %q", code, stderr.String())
	}
}

// TestGenerateInitImage: --init-image and --strength on a Sprint folder
// reach the PNG's parameters; on a non-Sprint model they are an error.
func TestGenerateInitImage(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	dir := t.TempDir()
	model := filepath.Join(dir, "sprint")
	if err := sana.WriteTinyPipeline(model, sana.TinyOptions{Sprint: true}); err != nil {
		t.Fatal(err)
	}
	initPath := filepath.Join(dir, "init.png")
	f, err := os.Create(initPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "x.png")
	var stdout, stderr bytes.Buffer
	args := []string{"generate", "--model", model, "-p", "a fox", "--width", "64", "--height", "64", "--no-binning",
		"--init-image", initPath, "--strength", "0.5", "-q", "--dest", out}
	if meta, params := generateMeta(t, args, out); meta.InitImage != initPath || meta.Strength != 0.5 {
		t.Errorf("parameters %s", params)
	}
	stderr.Reset()
	args[2] = "sana-tiny"
	if code := run(context.Background(), args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "Sprint pipeline") {
		t.Errorf("non-Sprint model: exit %d, %q", code, stderr.String())
	}
}
