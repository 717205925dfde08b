// Package cpu is the pure-Go reference backend: goroutine-parallel,
// cache-blocked kernels with an AVX2+FMA GEMM micro-kernel chosen at run
// time and a portable fallback. It builds with CGO_ENABLED=0.
package cpu

import (
	"runtime"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
)

// Config configures a CPU backend.
type Config struct {
	// Threads is the number of goroutines one op may use; 0 means
	// runtime.GOMAXPROCS(0).
	Threads int
	// NoSIMD forces the portable Go micro-kernels even where AVX2+FMA is
	// available (tests exercise both paths).
	NoSIMD bool
	// Precision is the rounding mode (kernels.Precision). In bf16 mode the
	// backend emulates the GPUs' tensor-core products: MatMul and dense or
	// pointwise Conv2D with a 16-bit weight round their activation operand
	// to the weight's dtype first (precision.go); everything else stays
	// float32. The zero value is float32.
	Precision kernels.Precision
}

// Backend is the CPU implementation of kernels.Backend. It holds no global
// state; several backends may coexist (e.g. with different thread counts).
type Backend struct {
	threads int
	simd    bool
	prec    kernels.Precision
}

var _ kernels.Backend = (*Backend)(nil)

// New returns a CPU backend.
func New(cfg Config) *Backend {
	t := cfg.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	return &Backend{threads: t, simd: !cfg.NoSIMD && hasAVX2FMA(), prec: cfg.Precision}
}

// Name returns "cpu".
func (b *Backend) Name() string { return "cpu" }

// Threads is the number of goroutines an op may use.
func (b *Backend) Threads() int { return b.threads }

// Precision reports the rounding mode the backend was configured with.
func (b *Backend) Precision() kernels.Precision { return b.prec }

// SIMD reports whether the assembly micro-kernels are in use.
func (b *Backend) SIMD() bool { return b.simd }

// Sync is a no-op: CPU ops complete before returning.
func (b *Backend) Sync() error { return nil }

// parallelFor splits [0, n) into at most b.threads contiguous chunks of at
// least grain items and runs fn on each, waiting for all.
func (b *Backend) parallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := min(b.threads, (n+grain-1)/grain)
	if chunks <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + chunks - 1) / chunks
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
