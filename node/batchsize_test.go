package node

import (
	"context"
	"errors"
	"image"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

func TestAutoBatch(t *testing.T) {
	const gib = int64(1) << 30
	for _, c := range []struct {
		name string
		free int64
		w, h int
		rows int
		want int
	}{
		{"1024² on an H100 with 70 GiB free", 70 * gib, 1024, 1024, 2, 14},
		{"512² on an H100", 70 * gib, 512, 512, 2, 32},
		{"1024² with 2 GiB free", 2 * gib, 1024, 1024, 2, 1},
		{"nothing free", 0, 1024, 1024, 2, 1},
		{"4096² on an H200: tiled decode, DiT-bound", 130 * gib, 4096, 4096, 2, 7},
		{"2048² (decoded whole): decode-bound", 70 * gib, 2048, 2048, 2, 3},
		{"zero size", 10 * gib, 0, 0, 2, 32},
		{"PAG's third row at 4096²", 100 * gib, 4096, 4096, 3, 3},
	} {
		if got := autoBatch(c.free, c.w, c.h, c.rows); got != c.want {
			t.Errorf("%s: autoBatch(%d, %d, %d, %d) = %d, want %d", c.name, c.free, c.w, c.h, c.rows, got, c.want)
		}
	}
}

// memBackend is the CPU backend reporting a fixed amount of free memory.
type memBackend struct {
	kernels.Backend
	free int64
	err  error
}

func (m memBackend) MemInfo() (int64, int64, error) { return m.free, 2 * m.free, m.err }

func TestBatchSize(t *testing.T) {
	q := sana.Request{Width: 1024, Height: 1024}
	for _, c := range []struct {
		name string
		cfg  PipelineConfig
		want int
	}{
		{"flag wins", PipelineConfig{BatchSize: 3, Backend: memBackend{cpu.New(cpu.Config{}), 70 << 30, nil}}, 3},
		{"auto from free memory", PipelineConfig{Backend: memBackend{cpu.New(cpu.Config{}), 70 << 30, nil}}, 14},
		{"memory unknown", PipelineConfig{Backend: memBackend{cpu.New(cpu.Config{}), 0, errors.New("no driver")}}, 1},
		{"cpu backend", PipelineConfig{Backend: cpu.New(cpu.Config{})}, 1},
	} {
		if got := NewPipelineExecutor(c.cfg).batchSize(q); got != c.want {
			t.Errorf("%s: batch %d, want %d", c.name, got, c.want)
		}
	}
}

// gatedWriter blocks the first Write until released, recording writes.
type gatedWriter struct {
	storage.ShardWriter
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	indexes []int64
	fail    error
}

func (w *gatedWriter) Write(_ context.Context, s storage.Sample) error {
	w.once.Do(func() { <-w.release })
	w.mu.Lock()
	defer w.mu.Unlock()
	w.indexes = append(w.indexes, s.Index)
	return w.fail
}

func overlapRun(t *testing.T, n int, w *gatedWriter, gen func(context.Context, sana.Request) (*sana.Result, error)) *shardRun {
	t.Helper()
	plan := &shardPlan{base: sana.Request{Width: 8, Height: 8}, facts: &modelFacts{}, inputs: &jobInputs{}}
	for i := range n {
		plan.samples = append(plan.samples, planned{index: int64(i), k: int64(i), row: storage.PromptRow{Prompt: "p"}})
	}
	return &shardRun{e: NewPipelineExecutor(PipelineConfig{BatchSize: 2}), a: protocol.Assignment{}, res: &resident{},
		plan: plan, w: w, timings: map[string]float64{}, gen: gen}
}

func images(q sana.Request) *sana.Result {
	res := &sana.Result{}
	for i := range q.Prompts {
		res.Images = append(res.Images, sana.Image{Image: image.NewNRGBA(image.Rect(0, 0, 8, 8)), Index: i, Prompt: q.Prompts[i]})
	}
	return res
}

// TestGenerateOverlapsWrites: the second batch is generated while the
// first is still being written (the writer is held until then), and every
// image is written once, in order, with progress up to the last.
func TestGenerateOverlapsWrites(t *testing.T) {
	w := &gatedWriter{release: make(chan struct{})}
	calls := 0
	gen := func(_ context.Context, q sana.Request) (*sana.Result, error) {
		calls++
		if calls == 2 { // the writer still holds batch 1: overlap
			close(w.release)
		}
		return images(q), nil
	}
	r := overlapRun(t, 5, w, gen)
	var last int
	done := make(chan error, 1)
	go func() { done <- r.generate(context.Background(), func(n int) { last = n }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("generate hung: the second batch waited for the first batch's writes (no overlap)")
	}
	if calls != 3 || last != 5 || len(w.indexes) != 5 {
		t.Fatalf("%d generate calls, progress %d, %d writes; want 3, 5, 5", calls, last, len(w.indexes))
	}
	for i, x := range w.indexes {
		if x != int64(i) {
			t.Fatalf("writes out of order: %v", w.indexes)
		}
	}
	if _, ok := r.timings["write"]; !ok {
		t.Error("no write timing recorded")
	}
}

// TestGenerateWriterErrorStops: a failing write stops generation and its
// error is the one returned.
func TestGenerateWriterErrorStops(t *testing.T) {
	boom := errors.New("store refused the object")
	w := &gatedWriter{release: make(chan struct{}), fail: boom}
	close(w.release)
	calls := 0
	gen := func(ctx context.Context, q sana.Request) (*sana.Result, error) {
		calls++
		if calls > 1 {
			<-ctx.Done() // a long generation that must be cancelled
			return nil, ctx.Err()
		}
		return images(q), nil
	}
	err := overlapRun(t, 8, w, gen).generate(context.Background(), func(int) {})
	if !errors.Is(err, boom) {
		t.Fatalf("generate = %v, want the writer's error", err)
	}
}

// TestGenerateProducerErrorReturned: a failing generation is returned
// after the writer has drained what was queued.
func TestGenerateProducerErrorReturned(t *testing.T) {
	boom := errors.New("out of memory")
	w := &gatedWriter{release: make(chan struct{})}
	close(w.release)
	calls := 0
	gen := func(_ context.Context, q sana.Request) (*sana.Result, error) {
		if calls++; calls == 2 {
			return nil, boom
		}
		return images(q), nil
	}
	err := overlapRun(t, 6, w, gen).generate(context.Background(), func(int) {})
	if !errors.Is(err, boom) || len(w.indexes) != 2 {
		t.Fatalf("generate = %v with %d writes, want %v after 2 writes", err, len(w.indexes), boom)
	}
}

// TestImageBytesRows: PAG's third DiT row raises the DiT estimate by half.
func TestImageBytesRows(t *testing.T) {
	two, three := imageBytes(64, 64, 2), imageBytes(64, 64, 3)
	dit2 := int64(2) * (64 * 64 / 1024) * 2240 * 4 * 40
	if two != max(dit2, 64*64*128*4*6) || three < two {
		t.Fatalf("imageBytes rows 2: %d, rows 3: %d", two, three)
	}
}
