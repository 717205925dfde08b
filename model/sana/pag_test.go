package sana

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
)

// TestTinyPAG generates with PAG on sana-tiny: the image changes, the
// parameters record it, and bad settings fail with a clear error.
func TestTinyPAG(t *testing.T) {
	p := loadTiny(t, TinyOptions{})
	req := Request{Prompts: []string{"a red fox"}, Width: 256, Height: 256, NoBinning: true, Steps: 2, Seed: 3}
	plain, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	req.PAG = PAG{Scale: 3}
	pag, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(plain.Images[0].Image.Pix, pag.Images[0].Image.Pix) {
		t.Error("PAG scale 3 did not change the image")
	}
	if pp := pag.Images[0].Params; pp.PAGScale != 3 || !slices.Equal(pp.PAGBlocks, DefaultPAGBlocks) {
		t.Errorf("params %+v, want pag_scale 3 and the default blocks", pp)
	}
	// An NVlabs config's pag_applied_layers replace the default blocks.
	p.pagBlocks = []int{1}
	cfgd, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	p.pagBlocks = nil
	if pp := cfgd.Images[0].Params; !slices.Equal(pp.PAGBlocks, []int{1}) {
		t.Errorf("with the config's pag_applied_layers [1]: blocks %v", pp.PAGBlocks)
	}
	for name, bad := range map[string]PAG{
		"block":    {Scale: 1, Blocks: []int{99}},
		"scale":    {Scale: -1},
		"adaptive": {Scale: 1, AdaptiveScale: -1},
	} {
		req.PAG = bad
		if _, err := p.Generate(context.Background(), req); err == nil || !strings.Contains(err.Error(), "PAG") {
			t.Errorf("%s: error %v, want one naming PAG", name, err)
		}
	}
}

// TestGuide checks the branch combination on hand-made values.
func TestGuide(t *testing.T) {
	v := []float32{1, 2, 4} // uncond, cond, perturbed (one element each)
	if got := guide(v, 3, true, 2, 0.5); got[0] != 1+2*(2-1)+0.5*(2-4) {
		t.Errorf("cfg+pag: %v", got)
	}
	if got := guide(v[1:], 2, false, 1, 0.5); got[0] != 2+0.5*(2-4) {
		t.Errorf("pag only: %v", got)
	}
	if got := guide(v[:2], 2, true, 3, 0); got[0] != 1+3*(2-1) {
		t.Errorf("cfg only: %v", got)
	}
	if s := (PAG{Scale: 3, AdaptiveScale: 0.002}).scaleAt(999); s != 3-0.002 {
		t.Errorf("adaptive scale at 999: %v", s)
	}
	if s := (PAG{Scale: 1, AdaptiveScale: 0.01}).scaleAt(0); s != 0 {
		t.Errorf("adaptive scale floors at 0, got %v", s)
	}
}

// partialCond prepares only the first caption row, as a batch-split
// parallel model's rank does.
type partialCond struct{ Transformer }

func (p partialCond) PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*dit.Cond, error) {
	e, _ := enc.Slice(0, 1)
	m, _ := mask.Slice(0, 1)
	return p.Transformer.PrepareCond(ctx, e, m)
}

// TestPAGRefusesPartialBatch: with a transformer that holds only part of
// the batch, "the last B samples" would perturb the wrong rows: an error.
func TestPAGRefusesPartialBatch(t *testing.T) {
	p := loadTiny(t, TinyOptions{})
	c := p.dit.Config()
	s, err := p.newSampler("", 1)
	if err != nil {
		t.Fatal(err)
	}
	req := DenoiseRequest{
		PromptEmbeds: kernels.MustNew(kernels.Float32, 1, 4, c.CaptionChannels), PromptMask: kernels.MustNew(kernels.Int64, 1, 4),
		Latents: kernels.MustNew(kernels.Float32, 1, c.InChannels, 2, 2), GuidanceScale: 1, PAG: PAG{Scale: 2, Blocks: []int{0}},
	}
	if _, err := Denoise(context.Background(), partialCond{p.dit}, s, req); err == nil || !strings.Contains(err.Error(), "whole batch") {
		t.Errorf("error %v, want one about the whole batch", err)
	}
}
