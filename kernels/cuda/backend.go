//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
)

// Config selects the GPU and tunes the backend.
type Config struct {
	Device int          // CUDA device ordinal
	Logger *slog.Logger // nil: slog.Default()
	// FastMath lets cuBLAS use TF32 tensor cores for float32 GEMMs. It is
	// off by default because TF32 (10-bit mantissa) misses the conformance
	// suite's float32 tolerances.
	FastMath bool
	// Precision selects the production mode (kernels.PrecisionBF16: bf16
	// tensor-core GEMMs and convolutions, TF32 for float32 operands,
	// attention over GEMMs); it implies FastMath.
	Precision kernels.Precision
	// Profile times every kernel and GEMM with CUDA events (Backend.Profile);
	// it slows launches down, so it is for finding where time goes only.
	Profile bool
	// Graphs lets CaptureGraph record work into CUDA graphs (graph.go): the
	// DiT then replays each denoising step with one launch (model/dit/step.go).
	// Off by default until a GPU run has shown replays equal to eager steps.
	Graphs bool
}

// Backend runs kernels.Backend ops on one NVIDIA GPU.
//
// Context handling: the backend retains the device's primary context (the
// one the CUDA runtime, and so cuBLAS, also uses). Go goroutines migrate
// between OS threads while the driver keeps the current context per
// thread, so every entry point that calls the driver runs inside b.with:
// runtime.LockOSThread, cuCtxSetCurrent(primary) (a thread-local store in
// the driver, well under a microsecond), the work, UnlockOSThread. Direct
// calls keep per-launch overhead low, unlike cu's *Ctx wrapper, which hops
// to a dedicated thread over a channel (22–43 µs per call).
//
// All device work, cuBLAS included, is queued on one non-blocking stream,
// so work is executed in the order it was enqueued regardless of which
// goroutine enqueued it; Sync waits for that stream. The stream order is
// also what makes the caching allocator's immediate reuse safe (memory.go).
type Backend struct {
	cfg    Config
	log    *slog.Logger
	dev    cu.Device
	ctx    cu.CUContext
	stream cu.Stream
	sm     int // compute capability, major·10 + minor

	mods []cu.Module
	fnMu sync.RWMutex
	fns  map[string]*kernelFunc

	mem  *allocator
	gate captureGate // holds other goroutines off while one captures a graph

	prof *profiler // nil unless Config.Profile

	blasOnce sync.Once
	blas     *cublas
	blasErr  error

	closed atomic.Bool
	fault  atomic.Pointer[error] // the sticky error that broke the context (fault.go)
}

// New opens device cfg.Device, loads the embedded kernels and creates the
// stream. cuBLAS is loaded on the first GEMM.
func New(cfg Config) (*Backend, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: new: counting devices: %w", err)
	}
	if cfg.Device < 0 || cfg.Device >= n {
		return nil, fmt.Errorf("cuda: new: device %d out of range (%d devices)", cfg.Device, n)
	}
	if cfg.Precision == kernels.PrecisionBF16 {
		cfg.FastMath = true
	}
	b := &Backend{cfg: cfg, log: cfg.Logger, fns: map[string]*kernelFunc{}}
	b.gate.init()
	if cfg.Profile {
		b.prof = &profiler{total: map[string]*OpTime{}}
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.dev, err = cu.GetDevice(cfg.Device); err != nil {
		return nil, fmt.Errorf("cuda: new: device %d: %w", cfg.Device, err)
	}
	if b.ctx, err = b.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("cuda: new: retaining the primary context of device %d: %w", cfg.Device, err)
	}
	if err := b.with(b.init); err != nil {
		_ = b.Close()
		return nil, err
	}
	name, _ := b.dev.Name()
	b.log.Info("cuda backend ready", "device", cfg.Device, "name", name, "sm", b.sm, "driver", cu.Version())
	return b, nil
}

// init runs with the context current: capability, stream, modules.
func (b *Backend) init() error {
	major, err := b.dev.Attribute(cu.ComputeCapabilityMajor)
	if err != nil {
		return fmt.Errorf("cuda: new: compute capability: %w", err)
	}
	minor, err := b.dev.Attribute(cu.ComputeCapabilityMinor)
	if err != nil {
		return fmt.Errorf("cuda: new: compute capability: %w", err)
	}
	b.sm = major*10 + minor
	if b.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("cuda: new: creating a stream: %w", err)
	}
	b.mem = newAllocator(b)
	return b.loadModules()
}

// Name identifies the backend.
func (b *Backend) Name() string { return "cuda" }

// SM returns the device's compute capability as major·10 + minor (90 on
// an H100/H200).
func (b *Backend) SM() int { return b.sm }

// Precision reports the backend's rounding mode (kernels.Precision):
// bf16 whenever tensor cores are on (Config.FastMath or Precision).
func (b *Backend) Precision() kernels.Precision {
	if b.cfg.FastMath {
		return kernels.PrecisionBF16
	}
	return kernels.PrecisionF32
}

// errClosed is returned by every op after Close.
var errClosed = errors.New("cuda: backend is closed")

// with runs f on a locked OS thread with the primary context current. It
// nests (LockOSThread counts), so helpers may call it inside ops. While
// another goroutine captures a graph it waits (graph.go).
func (b *Backend) with(f func() error) error {
	if b.closed.Load() {
		return errClosed
	}
	if err := b.deviceFault(); err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Without Config.Graphs nothing ever captures: no gate, no mutex per op.
	if b.cfg.Graphs && b.gate.enter() {
		defer b.gate.leave()
	}
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		return fmt.Errorf("cuda: making the context current: %w", err)
	}
	return b.noteFault(f())
}

// Sync waits for all queued work and reports asynchronous kernel errors.
func (b *Backend) Sync() error {
	return b.with(b.syncLocked)
}

// syncLocked synchronizes the stream; the caller is inside with.
func (b *Backend) syncLocked() error {
	if err := b.stream.Synchronize(); err != nil {
		return fmt.Errorf("cuda: sync: %w", err)
	}
	return nil
}

// Close waits for queued work, frees cached memory and releases the
// context. Tensors allocated by the backend are invalid afterwards; later
// calls return an error. Close is idempotent.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var errs []error
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		errs = append(errs, err)
	}
	if b.stream != (cu.Stream{}) {
		errs = append(errs, b.stream.Synchronize())
	}
	if b.blas != nil {
		errs = append(errs, b.blas.destroy())
	}
	b.prof.destroy()
	if b.mem != nil {
		errs = append(errs, b.mem.close())
	}
	for _, m := range b.mods {
		errs = append(errs, m.Unload())
	}
	if b.stream != (cu.Stream{}) {
		errs = append(errs, b.stream.Destroy())
	}
	errs = append(errs, b.dev.ReleasePrimaryCtx())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda: close: %w", err)
	}
	return nil
}

// streamHandle is the raw CUstream for cudrv and cuBLAS. cu.Stream is a
// struct holding only the handle.
func (b *Backend) streamHandle() uintptr {
	s := b.stream
	return *(*uintptr)(unsafe.Pointer(&s))
}

// own reports whether t's storage belongs to this backend.
func (b *Backend) own(t *kernels.Tensor) (devMem, bool) {
	if t == nil {
		return devMem{}, false
	}
	d, ok := t.Dev.(devMem)
	if !ok || (d.base != nil && d.base.state.mem != b.mem) {
		return devMem{}, false
	}
	return d, true
}
