package dit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/kernels/kernelstest"
)

// stepCase is one model variant a Step must reproduce Forward for.
type stepCase struct {
	name     string
	cfg      Config
	pag      bool
	failWith error // the recorder's capture fails with it
	plain    bool  // the CPU backend itself: no graphs at all
}

func stepCases() []stepCase {
	pe := 1.0
	withPE := tinyConfig(false, false)
	withPE.InterpolationScale = &pe
	return []stepCase{
		{name: "qk norm", cfg: tinyConfig(true, false)},
		{name: "positional embedding", cfg: withPE},
		{name: "sprint guidance embeds", cfg: tinyConfig(true, true)},
		{name: "pag", cfg: tinyConfig(false, false), pag: true},
		{name: "capture fails: eager", cfg: tinyConfig(true, false), failWith: errors.New("no graphs today")},
		{name: "backend without graphs", cfg: tinyConfig(true, false), plain: true},
	}
}

// TestStepMatchesForward: a Step recorded into a graph (the Recorder
// replays only what the capture recorded, as a CUDA graph does) returns
// exactly what Forward returns at every step, with inputs changing from
// step to step — the inputs flow through its buffers, nothing of step 2
// is baked into the replays.
func TestStepMatchesForward(t *testing.T) {
	for _, c := range stepCases() {
		t.Run(c.name, func(t *testing.T) {
			w, err := RandomWeights(c.cfg, 5)
			if err != nil {
				t.Fatal(err)
			}
			ref := New(c.cfg, w, cpu.New(cpu.Config{Threads: 1}))
			w2, _ := RandomWeights(c.cfg, 5)
			rec := kernelstest.NewRecorder(cpu.New(cpu.Config{Threads: 1}))
			var be kernels.Backend = rec
			if c.plain {
				be = cpu.New(cpu.Config{Threads: 1})
			}
			rec.FailCapture = c.failWith
			m := New(c.cfg, w2, be)
			B, h, wd, T := 3, 4, 5, 6
			cdRef, cd := stepCond(t, ref, c, B, T), stepCond(t, m, c, B, T)
			st, err := m.NewStep(context.Background(), cd, B, h, wd)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := range 4 {
				x := randTensor(uint64(10+i), B, c.cfg.InChannels, h, wd)
				ts := []float32{900 - 200*float32(i), 500, 100 * float32(i)}
				var g []float32
				if c.cfg.GuidanceEmbeds {
					g = []float32{4.5, float32(i), 0}
				}
				want, err := ref.Forward(context.Background(), x, ts, g, cdRef)
				if err != nil {
					t.Fatal(err)
				}
				got, err := st.Forward(context.Background(), x, ts, g)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if !slices.Equal(got.F32(), want.F32()) {
					t.Fatalf("step %d: step output differs from Forward (max |Δ| %g)", i, maxDiff(got.F32(), want.F32()))
				}
			}
			graphed, why := st.Graphed()
			wantGraph := c.failWith == nil && !c.plain
			if graphed != wantGraph || (why == nil) != wantGraph {
				t.Fatalf("graphed %v (%v), want %v", graphed, why, wantGraph)
			}
			if wantGraph && (rec.Captures != 1 || rec.Replays != 3) {
				t.Errorf("%d captures, %d replays; want 1 and 3 (step 1 eager, then capture once)", rec.Captures, rec.Replays)
			}
			if c.failWith != nil && !strings.Contains(why.Error(), c.failWith.Error()) {
				t.Errorf("why %v, want the capture's error", why)
			}
		})
	}
}

func stepCond(t *testing.T, m *Model, c stepCase, B, T int) *Cond {
	t.Helper()
	mask := kernels.MustNew(kernels.Float32, B, T)
	for i := range mask.F32() {
		if i%T < T-i/T { // rows of different lengths: trimming and masking both matter
			mask.F32()[i] = 1
		}
	}
	cd, err := m.PrepareCond(context.Background(), randTensor(3, B, T, c.cfg.CaptionChannels), mask)
	if err != nil {
		t.Fatal(err)
	}
	if c.pag {
		cd = cd.WithPAG([]int{1}, 1)
	}
	return cd
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, float64(abs32(a[i]-b[i])))
	}
	return d
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// TestStepErrors: wrong shapes are refused with the value that is wrong,
// before anything is copied.
func TestStepErrors(t *testing.T) {
	cfg := tinyConfig(false, true)
	w, err := RandomWeights(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, w, kernelstest.NewRecorder(cpu.New(cpu.Config{Threads: 1})))
	cd := stepCond(t, m, stepCase{cfg: cfg}, 2, 4)
	ctx := context.Background()
	if _, err := m.NewStep(ctx, cd, 3, 4, 4); err == nil || !strings.Contains(err.Error(), "batch 3") {
		t.Errorf("batch mismatch: %v", err)
	}
	if _, err := m.NewStep(ctx, cd, 2, 0, 4); err == nil {
		t.Error("empty grid accepted")
	}
	st, err := m.NewStep(ctx, cd, 2, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(1, 2, cfg.InChannels, 4, 4)
	for _, c := range []struct {
		name string
		x    *kernels.Tensor
		t, g []float32
		want string
	}{
		{"latents of another grid", randTensor(1, 2, cfg.InChannels, 4, 5), []float32{1, 2}, []float32{1, 1}, "want [2 8 4 4]"},
		{"one timestep short", x, []float32{1}, []float32{1, 1}, "1 timesteps for batch 2"},
		{"guidance missing", x, []float32{1, 2}, nil, "need 2 guidance values"},
	} {
		if _, err := st.Forward(ctx, c.x, c.t, c.g); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestStepOwnsItsScratch: while a Step replays a graph, the block
// temporaries it recorded are its own — an eager Forward of the same
// model (another goroutine, on a GPU interleaved on one stream) never
// gets one of them — and Close gives them back to the model.
func TestStepOwnsItsScratch(t *testing.T) {
	cfg := tinyConfig(true, false)
	w, err := RandomWeights(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, w, kernelstest.NewRecorder(cpu.New(cpu.Config{Threads: 1})))
	ctx := context.Background()
	cd := stepCond(t, m, stepCase{cfg: cfg}, 2, 4)
	st, err := m.NewStep(ctx, cd, 2, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	x, ts := randTensor(1, 2, cfg.InChannels, 4, 4), []float32{10, 20}
	for range 2 { // eager, then capture + replay
		if _, err := st.Forward(ctx, x, ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	if ok, why := st.Graphed(); !ok {
		t.Fatal(why)
	}
	owned := map[*float32]bool{}
	for _, l := range st.priv.free {
		for _, s := range l {
			owned[&s.F32()[0]] = true
		}
	}
	if len(owned) == 0 {
		t.Fatal("the step holds no scratch")
	}
	if _, err := m.Forward(ctx, x, ts, nil, cd); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.scratch.free {
		for _, s := range l {
			if owned[&s.F32()[0]] {
				t.Fatal("an eager forward used a temporary the graph replays write")
			}
		}
	}
	n := len(m.scratch.free)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	back := 0
	for _, l := range m.scratch.free {
		for _, s := range l {
			if owned[&s.F32()[0]] {
				back++
			}
		}
	}
	if back != len(owned) {
		t.Errorf("Close gave back %d of the step's %d temporaries (model had %d keys)", back, len(owned), n)
	}
}
