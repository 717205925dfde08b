package sana

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/sanafarm/sanafarm/model/nvlabs"
)

// TestResolveNVlabsPreset: every NVlabs preset's refs resolve as explicit
// ones do — the built-in config from the binary (its sha256 recorded
// under its builtin: reference), the .pth through the Hub, the text
// encoder and VAE its YAML names — and the YAML's CHI is diffusers'
// default one.
func TestResolveNVlabsPreset(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	n := 0
	for _, p := range Presets() {
		if !p.NVlabs() {
			continue
		}
		n++
		h := &fakeFetcher{urls: map[string]string{p.Checkpoint: nvPTH}, sums: map[string]string{p.Checkpoint: "lfs-digest"}}
		files, prov, err := resolveNVlabs(context.Background(), h, NVlabsRefs{Config: p.Config, Checkpoint: p.Checkpoint}, "")
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		b, _ := nvlabs.Builtin(p.Config)
		sum := sha256.Sum256(b)
		if prov.Config != p.Config || prov.ConfigSHA256 != hex.EncodeToString(sum[:]) || prov.Checkpoint != p.Checkpoint ||
			prov.CheckpointSHA256 != "lfs-digest" || prov.TextEncoderRepo != "google/gemma-2-2b-it" ||
			prov.VAERepo != "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers" {
			t.Errorf("%s: provenance %+v", p.Name, prov)
		}
		if files.checkpoint != nvPTH || files.cfg.ImageSize != p.Size || files.cfg.TextEncoder.CHIPrompt() != CHI() ||
			files.cfg.Transformer.SampleSize*32 != p.Size {
			t.Errorf("%s: files %+v", p.Name, files)
		}
	}
	if n != 4 {
		t.Errorf("%d NVlabs presets, want 4", n)
	}
}
