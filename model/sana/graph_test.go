package sana

import (
	"context"
	"slices"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/kernels/kernelstest"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sampler"
)

// TestPipelineLoopGraphReplay: the golden pipeline loop with the
// transformer recorded once and replayed for the later steps (as on a GPU
// with --cuda-graphs; kernelstest.Recorder replays only what was
// recorded) ends on exactly the latents of the eager loop.
func TestPipelineLoopGraphReplay(t *testing.T) {
	cfg, w, sc := loopModel(t)
	in := mustOpen(t, "inputs.safetensors")
	req := DenoiseRequest{
		PromptEmbeds: get(t, in, "prompt_embeds"), PromptMask: get(t, in, "prompt_attention_mask"),
		NegativeEmbeds: get(t, in, "negative_prompt_embeds"), NegativeMask: get(t, in, "negative_prompt_attention_mask"),
		Latents: get(t, in, "latents"), GuidanceScale: 4.5,
	}
	run := func(m *dit.Model) []float32 {
		s, err := sampler.New(sc, 5)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Denoise(context.Background(), m, s, req)
		if err != nil {
			t.Fatal(err)
		}
		return got.F32()
	}
	eager := run(dit.New(cfg, w, cpu.New(cpu.Config{})))
	rec := kernelstest.NewRecorder(cpu.New(cpu.Config{}))
	graphed := run(dit.New(cfg, w, rec))
	if !slices.Equal(graphed, eager) {
		t.Fatal("the replayed loop ends on other latents than the eager loop")
	}
	if rec.Captures != 1 || rec.Replays != 4 {
		t.Errorf("%d captures and %d replays over 5 steps, want 1 and 4", rec.Captures, rec.Replays)
	}
}
