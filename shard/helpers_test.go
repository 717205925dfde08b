package shard

import (
	"context"
	"fmt"
	"math"
	"os"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/weights"
)

// testTimeout bounds every collective in the tests: a hang fails fast.
const testTimeout = 20 * time.Second

// timeoutCtx is a context that ends after d or with the test: each
// subtest gets its own, so a slow earlier one (-race on a loaded machine)
// does not eat a later one's time.
func timeoutCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startNATS runs an embedded NATS server for the test.
func startNATS(t testing.TB, maxPayload int32) string { return embedtest.NATS(t, maxPayload) }

// transportKinds are the transports every collective is checked on: the
// in-process loopback, NATS between nodes of earlier releases, and NATS
// with each message addressed to its recipient (NATSConfig.Addressed).
var transportKinds = []string{"loop", "nats", "nats-addressed"}

// group returns the size ranks of one transport (transportKinds).
func group(t testing.TB, kind, url string, size int, enc Encoding) []Transport {
	t.Helper()
	out := make([]Transport, size)
	switch kind {
	case "loop":
		ls, err := NewLoopback(size, enc)
		if err != nil {
			t.Fatal(err)
		}
		for k, l := range ls {
			out[k] = l
		}
	case "nats", "nats-addressed":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		name := fmt.Sprintf("t%d", time.Now().UnixNano())
		cfg := NATSConfig{URL: url, Group: name, Size: size, Encoding: enc}
		if kind == "nats-addressed" {
			cfg.Addressed = true
			for k := range size {
				cfg.Peers = append(cfg.Peers, fmt.Sprintf("node-%d.x", k)) // ids that need escaping in a subject
			}
		}
		errs := make([]error, size)
		var wg sync.WaitGroup
		for k := range size {
			wg.Go(func() {
				var n *NATS
				c := cfg
				c.Rank = k
				n, errs[k] = NewNATS(ctx, c)
				out[k] = n
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("unknown transport %q", kind)
	}
	t.Cleanup(func() {
		for _, tr := range out {
			tr.Close()
		}
	})
	return out
}

// onRanks runs f on every rank concurrently and returns each rank's
// result and the first error.
func onRanks[T any](size int, f func(k int) (T, error)) ([]T, error) {
	out := make([]T, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for k := range size {
		wg.Go(func() { out[k], errs[k] = f(k) })
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			return out, fmt.Errorf("rank %d: %w", k, err)
		}
	}
	return out, nil
}

func maxDiff(a, b *kernels.Tensor) float64 {
	if a.Len() != b.Len() {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a.Len() {
		d := math.Abs(a.At(i) - b.At(i))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

// golden is a transformer case with its inputs.
type golden struct {
	cfg     dit.Config
	w       *dit.Weights
	enc     *kernels.Tensor
	mask    *kernels.Tensor
	x       *kernels.Tensor
	ts, g   []float32
	name    string
	backend kernels.Backend
}

func loadGolden(t testing.TB, dir string) *golden {
	t.Helper()
	fsys := os.DirFS(path.Join("../testdata/golden", dir))
	cfg, err := dit.ReadConfig(fsys, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	wf, err := weights.Open(fsys, "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wf.Close() })
	w, err := dit.Load(cfg, wf, dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := weights.Open(fsys, "inputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	get := func(name string) *kernels.Tensor {
		x, err := in.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	gc := &golden{cfg: cfg, w: w, enc: get("encoder_hidden_states"), mask: get("encoder_attention_mask"),
		x: get("hidden_states"), ts: get("timestep").F32(), name: dir, backend: cpu.New(cpu.Config{})}
	if _, ok := in.Info("guidance"); ok {
		gc.g = get("guidance").F32()
	}
	return gc
}

// forward runs one forward of m on the case's inputs.
func (gc *golden) forward(ctx context.Context, m Denoiser) (*kernels.Tensor, error) {
	cd, err := m.PrepareCond(ctx, gc.enc, gc.mask)
	if err != nil {
		return nil, err
	}
	out, err := m.Forward(ctx, gc.x, gc.ts, gc.g, cd)
	if err != nil {
		return nil, err
	}
	return kernels.Download(m.Backend(), out)
}
