//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda/internal/cudrv"
)

// CUDA graphs (docs/performance.md, "Launch overhead"): a denoising step
// is ~1,000 kernel launches and GEMMs of a few µs of host time each; a
// captured step replays them with one cuGraphLaunch. Three things make a
// capture correct across replays:
//
//   - Addresses. A graph bakes in every pointer its kernels were given. The
//     blocks the allocator hands out during a capture belong to the graph's
//     pool (memory.go): released, they go back to that pool, never to the
//     shared cache, until the graph is closed — so no later tensor can land
//     on memory a replay writes. Memory allocated before the capture (the
//     weights, the caller's input and output buffers) must stay reachable
//     for as long as the graph is replayed; model/dit/step.go holds it.
//   - Exclusivity. Stream capture records whatever is enqueued on the
//     stream, from any goroutine. While one goroutine captures, every other
//     goroutine's entry into the backend waits (captureGate), so their work
//     is neither recorded into the graph nor lost.
//   - No host round trips inside. A synchronizing copy or Sync invalidates
//     the capture; CaptureGraph then returns the driver's error and the
//     caller runs eagerly (model/dit/step.go falls back).

// errGraphsOff is returned by CaptureGraph when Config.Graphs is false.
var errGraphsOff = errors.New("cuda: graph capture is off (Config.Graphs, --cuda-graphs)")

// captureGate keeps other goroutines out of the backend while one captures.
// The capturing goroutine is locked to its OS thread for the whole capture,
// so the thread id identifies it exactly; its own (nested) entries pass.
type captureGate struct {
	mu     sync.Mutex
	cond   sync.Cond
	active int // entries in progress by non-capturing goroutines
	tid    int // OS thread of the capturing goroutine; 0: none
}

func (g *captureGate) init() { g.cond.L = &g.mu }

// enter is called by with on a locked thread; it reports whether leave
// must be called. It waits while another goroutine captures.
func (g *captureGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tid != 0 {
		me := syscall.Gettid()
		if g.tid == me {
			return false
		}
		for g.tid != 0 {
			g.cond.Wait()
		}
	}
	g.active++
	return true
}

func (g *captureGate) leave() {
	g.mu.Lock()
	g.active--
	if g.active == 0 {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// begin waits until no capture runs and no other entry is in progress,
// then admits only thread tid. The caller must not be inside with (its own
// entry would count as active and never leave).
func (g *captureGate) begin(tid int) {
	g.mu.Lock()
	for g.tid != 0 || g.active > 0 {
		g.cond.Wait()
	}
	g.tid = tid
	g.mu.Unlock()
}

func (g *captureGate) end() {
	g.mu.Lock()
	g.tid = 0
	g.cond.Broadcast()
	g.mu.Unlock()
}

// GraphsEnabled reports whether CaptureGraph records (Config.Graphs, and
// not profiling), so callers can tell "off" from "failed".
func (b *Backend) GraphsEnabled() bool { return b.cfg.Graphs && b.prof == nil }

// graph is a captured, instantiated CUDA graph (kernels.Graph).
type graph struct {
	b      *Backend
	exec   uintptr
	pool   *graphPool
	nodes  int
	closed atomic.Bool
}

// CaptureGraph records the device work fn enqueues on the backend's
// stream into a CUDA graph instead of running it, and returns the graph to
// replay (kernels.Graph). fn must enqueue work only (no Sync, no copies to
// the host) and must run on the calling goroutine; other goroutines using
// the backend wait until the capture ends. On error nothing of fn's work
// has run and the caller should run it eagerly instead.
func (b *Backend) CaptureGraph(fn func() error) (kernels.Graph, error) {
	switch {
	case !b.cfg.Graphs:
		return nil, errGraphsOff
	case b.prof != nil:
		return nil, errors.New("cuda: graph capture: not while profiling (Config.Profile times each launch with events)")
	case b.closed.Load():
		return nil, errClosed
	}
	// cuBLAS is loaded before, never inside, a capture: its handle and
	// workspace must not come from (and go back with) the graph's pool.
	if _, err := b.blasHandle(); err != nil {
		return nil, fmt.Errorf("cuda: graph capture: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var pool *graphPool
	var g uintptr
	var err error
	func() {
		b.gate.begin(syscall.Gettid())
		defer b.gate.end() // also when fn panics: the backend must not stay closed to everyone
		pool, g, err = b.capture(fn)
	}()
	if err == nil {
		var gr *graph
		gr, err = b.instantiate(g, pool)
		if err == nil {
			return gr, nil
		}
	}
	b.mem.closePool(pool)
	return nil, fmt.Errorf("cuda: graph capture: %w", err)
}

// capture runs fn between cuStreamBeginCapture and cuStreamEndCapture with
// the allocator drawing from a new graph pool; the thread is locked. If fn
// panics, the stream leaves capture mode and the pool is closed before
// the panic goes on (nothing of fn's work was enqueued).
func (b *Backend) capture(fn func() error) (*graphPool, uintptr, error) {
	pool := b.mem.beginCapture()
	defer b.mem.endCapture()
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		return pool, 0, fmt.Errorf("making the context current: %w", err)
	}
	if err := cudrv.BeginCapture(b.streamHandle()); err != nil {
		return pool, 0, err
	}
	ended := false
	defer func() {
		if !ended {
			if g, _ := cudrv.EndCapture(b.streamHandle()); g != 0 {
				_ = cudrv.GraphDestroy(g)
			}
			b.mem.closePool(pool)
		}
	}()
	ferr := fn()
	g, eerr := cudrv.EndCapture(b.streamHandle())
	ended = true
	if ferr != nil || eerr != nil {
		if g != 0 {
			_ = cudrv.GraphDestroy(g)
		}
		return pool, 0, errors.Join(ferr, eerr)
	}
	return pool, g, nil
}

// instantiate makes g executable and frees the template.
func (b *Backend) instantiate(g uintptr, pool *graphPool) (*graph, error) {
	gr := &graph{b: b, pool: pool}
	err := b.with(func() error {
		defer func() { _ = cudrv.GraphDestroy(g) }()
		n, err := cudrv.GraphNodes(g)
		if err != nil {
			return err
		}
		gr.nodes = n
		gr.exec, err = cudrv.Instantiate(g)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.log.Debug("cuda: graph captured", "nodes", gr.nodes, "pool_bytes", pool.bytes())
	return gr, nil
}

// Replay enqueues the recorded work once more, on the same memory.
func (g *graph) Replay() error {
	if g.closed.Load() {
		return errors.New("cuda: graph replay after Close")
	}
	return g.b.with(func() error { return cudrv.GraphLaunch(g.exec, g.b.streamHandle()) })
}

// Nodes is the number of operations the graph holds.
func (g *graph) Nodes() int { return g.nodes }

// Close frees the graph and gives its pool's memory back to the shared
// cache (replays already enqueued finish first: stream order).
func (g *graph) Close() error {
	if g.closed.Swap(true) {
		return nil
	}
	err := g.b.with(func() error { return cudrv.ExecDestroy(g.exec) })
	g.b.mem.closePool(g.pool)
	if err != nil {
		return fmt.Errorf("cuda: graph close: %w", err)
	}
	return nil
}
