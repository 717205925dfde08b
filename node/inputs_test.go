package node

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// goldenLoRA is the lora_sana golden adapter, which fits sana-tiny's
// transformer (same widths).
func goldenLoRA(t *testing.T) string {
	p, err := filepath.Abs("../testdata/golden/lora_sana/lora/pytorch_lora_weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runShard executes and publishes shard 0 of spec, returning sample 0's
// PNG and .json.
func runShard(t *testing.T, exec *PipelineExecutor, spec protocol.JobSpec) (pngBytes, meta []byte) {
	t.Helper()
	a := assignment(spec, "j-lora", 0, 1)
	info, err := exec.Execute(context.Background(), a, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Publish(context.Background(), a, info); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(spec.Output.URL, storage.ShardDir("", 0))
	if pngBytes, err = os.ReadFile(filepath.Join(dir, storage.SampleKey(0)+".png")); err != nil {
		t.Fatal(err)
	}
	if meta, err = os.ReadFile(filepath.Join(dir, storage.SampleKey(0)+".json")); err != nil {
		t.Fatal(err)
	}
	return pngBytes, meta
}

// TestExecutorLoRA: a job's LoRA is fused at load: its images differ
// from the plain job's and equal what `sanafarm generate --lora` computes
// (sana.Load with the same set); the sample's .json records the adapter
// (source, sha256, weight) and the scale, the request hash changes, and
// both variants stay resident and are announced.
func TestExecutorLoRA(t *testing.T) {
	file := goldenLoRA(t)
	exec := NewPipelineExecutor(PipelineConfig{Allow: testAllow(os.TempDir(), filepath.Dir(file)),
		Models: &ModelResolver{CacheRoot: t.TempDir()}, Node: "n1", Resident: 2, Logger: testLogger(t)})
	defer exec.Close()
	spec := tinySpec(t.TempDir(), "a red fox")
	spec.Width, spec.Height, spec.ImagesPerPrompt, spec.ShardSize = 64, 64, 1, 1
	plainPNG, plainMeta := runShard(t, exec, spec)
	spec.Output.URL = t.TempDir()
	spec.LoRAs, spec.LoRAScale = []protocol.LoRA{{URL: file, Weight: 0.7}}, 0.5
	loraPNG, loraMeta := runShard(t, exec, spec)

	a, err := lora.Open(os.DirFS(filepath.Dir(file)), filepath.Base(file))
	if err != nil {
		t.Fatal(err)
	}
	tinyDir, _ := exec.cfg.Models.TinyDir()
	p, err := sana.Load(context.Background(), os.DirFS(tinyDir), sana.Options{Tokenizer: sana.LoadTokenizer,
		LoRA: lora.Set{Adapters: []lora.Weighted{{Adapter: a, Weight: 0.7}}, Scale: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ref, err := p.Generate(context.Background(), sana.Request{Prompts: spec.Prompts.Inline, Width: 64, Height: 64,
		Steps: 2, Guidance: 4.5, Seed: spec.Seed, ImagesPerPrompt: 1, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	pix := func(b []byte) []byte {
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return nrgbaPix(img)
	}
	if bytes.Equal(pix(plainPNG), pix(loraPNG)) {
		t.Error("the LoRA did not change the image")
	}
	if !bytes.Equal(pix(loraPNG), ref.Images[0].Image.Pix) {
		t.Error("LoRA job pixels differ from sana.Load with the same LoRA set (sanafarm generate --lora)")
	}
	var pm, lm sampleMeta
	if json.Unmarshal(plainMeta, &pm) != nil || json.Unmarshal(loraMeta, &lm) != nil {
		t.Fatalf("metas %s / %s", plainMeta, loraMeta)
	}
	want := sana.LoRARef{Source: file, SHA256: a.SHA256, Weight: 0.7}
	if len(lm.LoRA) != 1 || lm.LoRA[0] != want || lm.LoRAScale != 0.5 || len(pm.LoRA) != 0 {
		t.Errorf("provenance lora %+v scale %g (plain %+v), want [%+v] 0.5", lm.LoRA, lm.LoRAScale, pm.LoRA, want)
	}
	if pm.RequestHash == lm.RequestHash {
		t.Error("the LoRA is not in the request hash")
	}
	models := exec.Models()
	if len(models) != 2 || models[0] != spec.VariantKey() || models[1] != sana.TinyPreset {
		t.Errorf("resident %q, want [%s %s]", models, spec.VariantKey(), sana.TinyPreset)
	}
	// Resuming: the same LoRA job is reused; another weight is not.
	a0 := assignment(spec, "j-lora", 0, 2)
	if info, err := exec.Execute(context.Background(), a0, func(int) {}); err != nil || !info.Reused {
		t.Errorf("same LoRA job: reused %v, %v", info.Reused, err)
	}
	spec.LoRAs[0].Weight = 0.6
	if info, err := exec.Execute(context.Background(), assignment(spec, "j-lora", 0, 3), func(int) {}); err != nil || info.Reused {
		t.Errorf("changed LoRA weight: reused %v, %v", info.Reused, err)
	}
}

// TestExecutorRefusesInputsOutsideAllowList: a LoRA or init image outside
// --allow-read fails the task with the field named, before any model is
// resolved.
func TestExecutorRefusesInputsOutsideAllowList(t *testing.T) {
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()}, Logger: testLogger(t)})
	defer exec.Close()
	for field, edit := range map[string]func(*protocol.JobSpec){
		"loras[0].url": func(s *protocol.JobSpec) { s.LoRAs = []protocol.LoRA{{URL: "/etc/passwd"}} },
		"init_image":   func(s *protocol.JobSpec) { s.InitImage = "file:///proc/self/environ" },
	} {
		spec := tinySpec(t.TempDir(), "a red fox")
		edit(&spec)
		_, err := exec.Execute(context.Background(), assignment(spec, "j-x", 0, 1), func(int) {})
		if err == nil || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: err = %v", field, err)
		}
	}
}

// TestAdapterCache: a job's LoRA file is parsed once while it is
// unchanged (not again for every shard), and read again once it changes.
func TestAdapterCache(t *testing.T) {
	b, err := os.ReadFile(goldenLoRA(t))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "l.safetensors")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()}, Logger: testLogger(t)})
	defer exec.Close()
	spec := tinySpec(t.TempDir(), "a red fox")
	spec.LoRAs = []protocol.LoRA{{URL: file}}
	read := func() *lora.Adapter {
		in, err := exec.readInputs(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		return in.loras.Adapters[0].Adapter
	}
	first := read()
	if read() != first {
		t.Error("an unchanged adapter was parsed again")
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	if read() == first {
		t.Error("a changed adapter file came from the cache")
	}
}
