package sana

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
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

// TestGenerateReportsStepModes: Generate's timings count the steps replayed
// as a graph and those run op by op, per batch, and a capture that fails
// is logged once as a warning (an operator asked for graphs and is not
// getting them); expected reasons (a backend without graphs) are not.
func TestGenerateReportsStepModes(t *testing.T) {
	files, err := tinyFiles(TinyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		recorder     bool
		failCapture  bool
		graph, eager int
		warnings     int
	}{
		{"graphs", true, false, 2 * 3, 2 * 1, 0}, // 2 batches of 4 steps: 1 eager, capture, 2 more replays
		{"capture fails", true, true, 0, 2 * 4, 1},
		{"cpu backend", false, false, 0, 2 * 4, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var be kernels.Backend = cpu.New(cpu.Config{})
			if c.recorder {
				rec := kernelstest.NewRecorder(be)
				if c.failCapture {
					rec.FailCapture = errors.New("no graphs today")
				}
				be = rec
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			p, err := Load(context.Background(), mapFS(files), Options{Backend: be, Tokenizer: LoadTokenizer, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			res, err := p.Generate(context.Background(), Request{Prompts: []string{"a fox", "a boat"}, Width: 64, Height: 64,
				Steps: 4, Seed: 1, BatchSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Timings.GraphSteps != c.graph || res.Timings.EagerSteps != c.eager {
				t.Errorf("graph %d, eager %d steps; want %d and %d", res.Timings.GraphSteps, res.Timings.EagerSteps, c.graph, c.eager)
			}
			if n := strings.Count(logs.String(), "CUDA graph capture failed"); n != c.warnings {
				t.Errorf("%d capture warnings, want %d: %s", n, c.warnings, logs.String())
			}
		})
	}
}
