package kernelstest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
)

// Recorder wraps a host backend and records graphs the way CUDA stream
// capture does (kernels/cuda/graph.go), so that code built on
// CaptureGraph can be tested without a GPU: inside CaptureGraph the ops
// are not run but remembered with their arguments, and Replay runs them
// again in order, on the same tensors. Host work between ops is not
// recorded, exactly as on a GPU — a model that computes something on the
// host inside a recorded step replays a stale value and its test fails.
// Copies are recorded only between tensors that came from Alloc (device
// memory, on a GPU); any other Copy fails the capture, as a copy from or
// to host memory cannot be recorded (nor Sync).
type Recorder struct {
	kernels.Backend

	mu        sync.Mutex
	recording *[]func() error
	allocated []*kernels.Tensor // every Alloc result, kept alive so addresses stay unique

	// FailCapture, when set, makes CaptureGraph fail with it (after fn ran).
	FailCapture error
	// Captures and Replays count successful captures and replays.
	Captures, Replays int
}

// NewRecorder wraps be (a host backend such as cpu.New).
func NewRecorder(be kernels.Backend) *Recorder { return &Recorder{Backend: be} }

// recordedGraph is one capture.
type recordedGraph struct {
	r      *Recorder
	ops    []func() error
	closed bool
}

// CaptureGraph records the ops fn enqueues.
func (r *Recorder) CaptureGraph(fn func() error) (kernels.Graph, error) {
	var ops []func() error
	r.mu.Lock()
	if r.recording != nil {
		r.mu.Unlock()
		return nil, errors.New("recorder: nested capture")
	}
	r.recording = &ops
	r.mu.Unlock()
	err := func() error {
		defer func() { // also when fn panics
			r.mu.Lock()
			r.recording = nil
			r.mu.Unlock()
		}()
		return fn()
	}()
	if err == nil {
		err = r.FailCapture
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: capture: %w", err)
	}
	r.Captures++
	return &recordedGraph{r: r, ops: ops}, nil
}

// Replay runs the recorded ops again.
func (g *recordedGraph) Replay() error {
	if g.closed {
		return errors.New("recorder: replay after close")
	}
	for _, op := range g.ops {
		if err := op(); err != nil {
			return err
		}
	}
	g.r.Replays++
	return nil
}

func (g *recordedGraph) Close() error { g.closed = true; return nil }

// op runs f, or records it during a capture.
func (r *Recorder) op(f func() error) error {
	r.mu.Lock()
	rec := r.recording
	if rec != nil {
		*rec = append(*rec, f)
	}
	r.mu.Unlock()
	if rec != nil {
		return nil
	}
	return f()
}

// Precision forwards the wrapped backend's rounding mode.
func (r *Recorder) Precision() kernels.Precision { return kernels.PrecisionOf(r.Backend) }

// Alloc allocates now (allocation is not an op) and remembers the tensor
// as device memory.
func (r *Recorder) Alloc(dt kernels.DType, shape ...int) (*kernels.Tensor, error) {
	t, err := r.Backend.Alloc(dt, shape...)
	if err == nil {
		r.mu.Lock()
		r.allocated = append(r.allocated, t)
		r.mu.Unlock()
	}
	return t, err
}

// isDevice reports whether t's storage is (part of) an Alloc result: a
// view of backend memory shares storage with the tensor Alloc returned.
func (r *Recorder) isDevice(t *kernels.Tensor) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.allocated {
		if kernels.Overlap(t, a) {
			return true
		}
	}
	return false
}

// Copy is recorded between Alloc'd tensors; during a capture any other
// copy fails (host memory cannot be part of a graph).
func (r *Recorder) Copy(dst, src *kernels.Tensor) error {
	r.mu.Lock()
	capturing := r.recording != nil
	r.mu.Unlock()
	if capturing && (!r.isDevice(dst) || !r.isDevice(src)) {
		return fmt.Errorf("recorder: copy %v ← %v touches host memory during a capture", dst, src)
	}
	return r.op(func() error { return r.Backend.Copy(dst, src) })
}

// Sync fails during a capture, as cuStreamSynchronize does.
func (r *Recorder) Sync() error {
	r.mu.Lock()
	capturing := r.recording != nil
	r.mu.Unlock()
	if capturing {
		return errors.New("recorder: sync during a capture")
	}
	return r.Backend.Sync()
}
