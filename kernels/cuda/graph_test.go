//go:build cuda

package cuda

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
)

var (
	graphOnce sync.Once
	graphBe   *Backend
	graphErr  error
)

// graphBackend is a backend with Config.Graphs on, shared by the graph tests.
func graphBackend(t *testing.T) *Backend {
	t.Helper()
	graphOnce.Do(func() { graphBe, graphErr = New(Config{Graphs: true}) })
	if graphErr != nil {
		t.Skipf("no usable CUDA device: %v", graphErr)
	}
	return graphBe
}

// graphWork enqueues y = silu(x·w + b) + x, allocating its temporaries
// inside (as the DiT's forward does during a capture).
func graphWork(be *Backend, x, w, b, y *kernels.Tensor) error {
	h, err := be.Alloc(kernels.Float32, x.Shape()...)
	if err != nil {
		return err
	}
	if err := be.MatMul(h, x, w, b); err != nil {
		return err
	}
	if err := be.Activate(h, h, kernels.ActSiLU); err != nil {
		return err
	}
	return be.Add(y, h, x)
}

func hostRand(seed int, shape ...int) *kernels.Tensor {
	t := kernels.MustNew(kernels.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(math.Sin(float64(i*7+seed))) / 2
	}
	return t
}

func devOf(t *testing.T, be *Backend, h *kernels.Tensor) *kernels.Tensor {
	t.Helper()
	d, err := be.Alloc(h.DType(), h.Shape()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Copy(d, h); err != nil {
		t.Fatal(err)
	}
	return d
}

func download(t *testing.T, be *Backend, d *kernels.Tensor) []float32 {
	t.Helper()
	h := kernels.MustNew(kernels.Float32, d.Shape()...)
	if err := be.Copy(h, d); err != nil {
		t.Fatal(err)
	}
	return h.F32()
}

// TestGraphReplayMatchesEager: a captured sequence does nothing until
// replayed, then computes exactly what the same ops compute eagerly, and
// replays read inputs refreshed in place between them.
func TestGraphReplayMatchesEager(t *testing.T) {
	be := graphBackend(t)
	const n, k = 64, 96
	x, w, b := devOf(t, be, hostRand(1, n, k)), devOf(t, be, hostRand(2, k, k)), devOf(t, be, hostRand(3, k))
	y, ref := devOf(t, be, kernels.MustNew(kernels.Float32, n, k)), devOf(t, be, kernels.MustNew(kernels.Float32, n, k))
	g, err := be.CaptureGraph(func() error { return graphWork(be, x, w, b, y) })
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	defer g.Close()
	if got := download(t, be, y); slices.ContainsFunc(got, func(v float32) bool { return v != 0 }) {
		t.Fatal("the capture ran the work instead of recording it")
	}
	for round := range 3 {
		if err := be.Copy(x, hostRand(10+round, n, k)); err != nil {
			t.Fatal(err)
		}
		if err := g.Replay(); err != nil {
			t.Fatalf("replay %d: %v", round, err)
		}
		if err := graphWork(be, x, w, b, ref); err != nil {
			t.Fatal(err)
		}
		if got, want := download(t, be, y), download(t, be, ref); !slices.Equal(got, want) {
			t.Fatalf("replay %d differs from the eager ops", round)
		}
	}
}

// TestGraphCaptureFailureLeavesBackendUsable: a Sync inside a capture
// invalidates it; CaptureGraph says so, nothing ran, and the backend keeps
// working eagerly.
func TestGraphCaptureFailureLeavesBackendUsable(t *testing.T) {
	be := graphBackend(t)
	x := devOf(t, be, hostRand(1, 8, 8))
	y := devOf(t, be, kernels.MustNew(kernels.Float32, 8, 8))
	_, err := be.CaptureGraph(func() error {
		if err := be.Add(y, x, x); err != nil {
			return err
		}
		return be.Sync()
	})
	if err == nil {
		t.Fatal("a Sync inside a capture was accepted")
	}
	t.Logf("capture error (expected): %v", err)
	if err := be.Add(y, x, x); err != nil {
		t.Fatalf("eager op after a failed capture: %v", err)
	}
	got, xs := download(t, be, y), download(t, be, x)
	for i := range got {
		if got[i] != 2*xs[i] {
			t.Fatalf("y[%d] = %g, want %g", i, got[i], 2*xs[i])
		}
	}
	if _, err := be.CaptureGraph(func() error { return errors.New("boom") }); err == nil {
		t.Fatal("fn's error was not returned")
	}
}

// TestGraphPoolKeepsMemoryUntilClose: blocks taken during a capture are not
// handed to other tensors while the graph lives (a replay writes them), and
// return to the cache when it is closed.
func TestGraphPoolKeepsMemoryUntilClose(t *testing.T) {
	be := graphBackend(t)
	x, w, b := devOf(t, be, hostRand(1, 32, 32)), devOf(t, be, hostRand(2, 32, 32)), devOf(t, be, hostRand(3, 32))
	y := devOf(t, be, kernels.MustNew(kernels.Float32, 32, 32))
	var inside *kernels.Tensor
	g, err := be.CaptureGraph(func() error {
		var err error
		if inside, err = be.Alloc(kernels.Float32, 32, 32); err != nil {
			return err
		}
		return graphWork(be, x, w, b, y)
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := be.ptr(inside)
	if err := be.Free(inside); err != nil {
		t.Fatal(err)
	}
	again, err := be.Alloc(kernels.Float32, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := be.ptr(again); q == p {
		t.Fatal("a block of the live graph was handed to a new tensor")
	}
	_, cachedBefore := be.MemStats()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, cached := be.MemStats(); cached <= cachedBefore {
		t.Errorf("closing the graph returned no memory to the cache (cached %d → %d)", cachedBefore, cached)
	}
	if err := g.Replay(); err == nil {
		t.Error("replay after Close accepted")
	}
}

// TestGraphCaptureWaitsForOtherGoroutines: work another goroutine enqueues
// during a capture is neither recorded nor lost — it waits and then runs.
func TestGraphCaptureWaitsForOtherGoroutines(t *testing.T) {
	be := graphBackend(t)
	x := devOf(t, be, hostRand(1, 16, 16))
	y, z := devOf(t, be, kernels.MustNew(kernels.Float32, 16, 16)), devOf(t, be, kernels.MustNew(kernels.Float32, 16, 16))
	started, done := make(chan struct{}), make(chan error, 1)
	g, err := be.CaptureGraph(func() error {
		go func() {
			close(started)
			done <- be.Add(z, x, x) // blocks until the capture ends
		}()
		<-started
		time.Sleep(50 * time.Millisecond) // let it reach the gate
		return be.Add(y, x, x)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, xs := download(t, be, z), download(t, be, x)
	for i := range got {
		if got[i] != 2*xs[i] {
			t.Fatalf("the other goroutine's op was recorded or lost: z[%d] = %g, want %g", i, got[i], 2*xs[i])
		}
	}
}

// TestGraphCapturePanicLeavesBackendUsable: a panic inside the recorded
// function propagates, and afterwards the stream is out of capture mode
// and other goroutines are let in again.
func TestGraphCapturePanicLeavesBackendUsable(t *testing.T) {
	be := graphBackend(t)
	x := devOf(t, be, hostRand(1, 8, 8))
	y := devOf(t, be, kernels.MustNew(kernels.Float32, 8, 8))
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		_, _ = be.CaptureGraph(func() error {
			_ = be.Add(y, x, x)
			panic("boom")
		})
	}()
	done := make(chan error, 1)
	go func() { done <- be.Add(y, x, x) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("op after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the capture gate stayed closed after the panic")
	}
	if err := be.Sync(); err != nil {
		t.Fatalf("sync after the panic (stream still capturing?): %v", err)
	}
	g, err := be.CaptureGraph(func() error { return be.Add(y, x, x) })
	if err != nil {
		t.Fatalf("capture after the panic: %v", err)
	}
	_ = g.Close()
}
