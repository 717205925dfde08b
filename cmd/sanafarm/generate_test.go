package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerateTiny runs `sanafarm generate` end to end on sana-tiny:
// two prompts × 2 images into a directory, readable PNGs whose parameters
// chunk records the request; -o json lists them with their parameters.
func TestGenerateTiny(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	out := filepath.Join(t.TempDir(), "imgs")
	var stdout, stderr bytes.Buffer
	args := []string{"generate", "--model", "sana-tiny", "-p", "a red fox", "-p", "a lighthouse", "-n", "2",
		"--steps", "2", "--seed", "11", "--width", "128", "--height", "128", "-q", "--dest", out, "-o", "json"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var list generated
	if err := json.Unmarshal(stdout.Bytes(), &list); err != nil || len(list.Images) != 4 {
		t.Fatalf("-o json: %v, want 4 images: %s", err, stdout.String())
	}
	if im := list.Images[3]; im.Path != filepath.Join(out, "003.png") || im.Prompt != "a lighthouse" || im.Seed != 11 {
		t.Errorf("-o json image 3: %+v", im)
	}
	b, err := os.ReadFile(filepath.Join(out, "003.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 128 || img.Bounds().Dy() != 128 {
		t.Fatalf("decoding: %v %v", err, img)
	}
	meta, _ := pngMeta(t, filepath.Join(out, "003.png"))
	if meta.Prompt != "a lighthouse" || meta.Seed != 11 || meta.Steps != 2 || meta.Index != 3 ||
		meta.Preset != "sana-tiny" || meta.Sampler != "dpm" || meta.Width != 128 || meta.Backend != "cpu" {
		t.Errorf("metadata %+v", meta)
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown preset", []string{"--model", "sana-9000"}, "sana-600m-512"},
		{"bad sampler", []string{"--sampler", "ddim"}, "unknown sampler"},
		{"size", []string{"--no-binning", "--width", "100", "--height", "100"}, "multiple of 32"},
		{"not a pipeline folder", []string{"--model", dir}, "model_index.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"generate", "-p", "x", "--steps", "1", "-q", "--dest", filepath.Join(dir, "x.png")}, c.args...)
			if code := run(context.Background(), args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("exit %d, stderr %q, want it to mention %q", code, stderr.String(), c.want)
			}
		})
	}
}

func TestModelsList(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"models", "list"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"sana-sprint-1600m", "Efficient-Large-Model/Sana_600M_512px_diffusers", "sana-tiny"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, stdout.String())
		}
	}
}
