package sana

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/lora"
)

// TestLoRAFusedAtLoad: Options.LoRA changes the images and every adapter
// is recorded in the samples' parameters. The lora_sana golden adapter
// fits sana-tiny's transformer (same widths).
func TestLoRAFusedAtLoad(t *testing.T) {
	a, err := lora.Open(os.DirFS("../../testdata/golden/lora_sana"), "lora/pytorch_lora_weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	files, err := tinyFiles(TinyOptions{Sprint: true})
	if err != nil {
		t.Fatal(err)
	}
	gen := func(set lora.Set) Image {
		p, err := Load(context.Background(), mapFS(files), Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer, LoRA: set})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		res, err := p.Generate(context.Background(), Request{Prompts: []string{"a fox"}, Width: 64, Height: 64, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		return res.Images[0]
	}
	base := gen(lora.Set{})
	with := gen(lora.Set{Adapters: []lora.Weighted{{Adapter: a, Weight: 0.8}}, Scale: 0.5})
	if bytes.Equal(base.Image.Pix, with.Image.Pix) {
		t.Error("the LoRA did not change the image")
	}
	if len(base.Params.LoRA) != 0 {
		t.Errorf("base params record LoRAs: %+v", base.Params.LoRA)
	}
	want := LoRARef{Source: a.Source, SHA256: a.SHA256, Weight: 0.8}
	if len(with.Params.LoRA) != 1 || with.Params.LoRA[0] != want || with.Params.LoRAScale != 0.5 || len(a.SHA256) != 64 {
		t.Errorf("params LoRA %+v scale %g, want [%+v] 0.5", with.Params.LoRA, with.Params.LoRAScale, want)
	}
}
