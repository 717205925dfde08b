//go:build openblas && cgo

// Command gemmbench compares the CPU backend's single-threaded sgemm with
// OpenBLAS at the Sana linear-layer shapes: C = A·Wᵀ with W in PyTorch
// [N, K] layout, through the public (*cpu.Backend).MatMul. Ours and
// OpenBLAS are timed in interleaved rounds (the machine is shared and
// noisy, so only same-run ratios mean anything) and the median GFLOP/s of
// each is compared. Single-threaded runs are timed in CPU time of the
// calling OS thread (CLOCK_THREAD_CPUTIME_ID; -wall for wall-clock), so
// time slices lost to other processes on the shared machine do not count
// against either side. The last line is `sgemm_vs_openblas <median ratio>`.
//
//	CGO_ENABLED=1 go run -tags openblas ./kernels/cpu/internal/gemmbench
package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
#include <time.h>

static double thread_seconds(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
*/
import "C"

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"time"
	"unsafe"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// shapes are (M, K, N): M tokens, K input and N output features.
var shapes = [][3]int{
	{1024, 1152, 1152},
	{1024, 1152, 2880},
	{1024, 2880, 1152},
	{256, 1152, 1152},
	{256, 1152, 2880},
	{256, 2880, 1152},
	{512, 512, 512},
}

// problem is one shape's operands, shared by both implementations.
type problem struct {
	m, k, n int
	a, w    *kernels.Tensor // a [M, K], w [N, K]
	ours    *kernels.Tensor // dst [M, N] for MatMul
	blas    []float32       // C for cblas_sgemm
}

func newProblem(m, k, n int) *problem {
	rng := rand.New(rand.NewPCG(uint64(m), uint64(k*n)))
	fill := func(t *kernels.Tensor) *kernels.Tensor {
		for i := range t.F32() {
			t.F32()[i] = float32(rng.NormFloat64())
		}
		return t
	}
	return &problem{
		m: m, k: k, n: n,
		a:    fill(kernels.MustNew(kernels.Float32, m, k)),
		w:    fill(kernels.MustNew(kernels.Float32, n, k)),
		ours: kernels.MustNew(kernels.Float32, m, n),
		blas: make([]float32, m*n),
	}
}

func (p *problem) flops() float64 { return 2 * float64(p.m) * float64(p.n) * float64(p.k) }

func (p *problem) runOurs(be *cpu.Backend) {
	if err := be.MatMul(p.ours, p.a, p.w, nil); err != nil {
		fmt.Fprintln(os.Stderr, "gemmbench:", err)
		os.Exit(1)
	}
}

// runBLAS is cblas_sgemm(RowMajor, NoTrans, Trans): C = A·Wᵀ.
func (p *problem) runBLAS() {
	C.cblas_sgemm(C.CblasRowMajor, C.CblasNoTrans, C.CblasTrans,
		C.blasint(p.m), C.blasint(p.n), C.blasint(p.k), 1,
		(*C.float)(unsafe.Pointer(&p.a.F32()[0])), C.blasint(p.k),
		(*C.float)(unsafe.Pointer(&p.w.F32()[0])), C.blasint(p.k), 0,
		(*C.float)(unsafe.Pointer(&p.blas[0])), C.blasint(p.n))
}

// maxRelErr is max |ours − blas| over max |blas|: both compute the same
// float32 dot products in different orders, so ~1e-6 is expected.
func (p *problem) maxRelErr() float64 {
	var diff, scale float64
	for i, want := range p.blas {
		diff = max(diff, math.Abs(float64(p.ours.F32()[i])-float64(want)))
		scale = max(scale, math.Abs(float64(want)))
	}
	return diff / scale
}

// wallTimeIt runs fn iters times and returns the wall-clock seconds per call.
func wallTimeIt(iters int, fn func()) float64 {
	t0 := time.Now()
	for range iters {
		fn()
	}
	return time.Since(t0).Seconds() / float64(iters)
}

// cpuTimeIt is wallTimeIt in CPU seconds of the calling thread, for
// single-threaded code (main locks its goroutine to its OS thread).
func cpuTimeIt(iters int, fn func()) float64 {
	t0 := float64(C.thread_seconds())
	for range iters {
		fn()
	}
	return (float64(C.thread_seconds()) - t0) / float64(iters)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// itersFor picks enough calls for a measurement of about target seconds at
// ~80 GFLOP/s, so short shapes are not dominated by timer noise.
func itersFor(p *problem, target float64) int {
	return max(1, int(target*80e9/p.flops()+0.5))
}

// compare times ours and OpenBLAS in interleaved rounds and returns the
// median GFLOP/s of each.
func compare(p *problem, be *cpu.Backend, rounds int, target float64, wall bool) (ours, blas float64) {
	iters := itersFor(p, target)
	clock := cpuTimeIt
	if wall {
		clock = wallTimeIt
	}
	var o, b []float64
	for range rounds {
		o = append(o, p.flops()/clock(iters, func() { p.runOurs(be) })/1e9)
		b = append(b, p.flops()/clock(iters, p.runBLAS)/1e9)
	}
	return median(o), median(b)
}

// scaling times ours with one and two threads, interleaved, and returns
// the median speed-up.
func scaling(p *problem, rounds int, target float64) float64 {
	one, two := cpu.New(cpu.Config{Threads: 1}), cpu.New(cpu.Config{Threads: 2})
	p.runOurs(two) // warm the second backend's buffers
	iters := itersFor(p, target)
	var r []float64
	for range rounds {
		t1 := wallTimeIt(iters, func() { p.runOurs(one) })
		t2 := wallTimeIt(iters, func() { p.runOurs(two) })
		r = append(r, t1/t2)
	}
	return median(r)
}

func main() {
	rounds := flag.Int("rounds", 7, "interleaved timing rounds per shape (median is reported)")
	quick := flag.Bool("quick", false, "3 rounds of short measurements (smoke test)")
	wall := flag.Bool("wall", false, "time single-threaded runs in wall-clock instead of thread CPU time")
	flag.Parse()
	runtime.LockOSThread() // so thread CPU time is the benchmark's own
	target := 0.15
	if *quick {
		*rounds, target = 3, 0.04
	}
	C.openblas_set_num_threads(1)
	be := cpu.New(cpu.Config{Threads: 1})
	clock := "thread CPU time"
	if *wall {
		clock = "wall clock"
	}
	fmt.Printf("openblas %s core=%s; ours simd=%v; single-thread timing: %s\n",
		C.GoString(C.openblas_get_config()), C.GoString(C.openblas_get_corename()), be.SIMD(), clock)

	var ratios []float64
	for _, s := range shapes {
		p := newProblem(s[0], s[1], s[2])
		p.runOurs(be) // warm-up, and the results to compare
		p.runBLAS()
		rel := p.maxRelErr()
		ours, blas := compare(p, be, *rounds, target, *wall)
		ratios = append(ratios, ours/blas)
		fmt.Printf("shape M=%d K=%d N=%d ours=%.1f GFLOP/s openblas=%.1f GFLOP/s ratio=%.2f maxrelerr=%.1e\n",
			p.m, p.k, p.n, ours, blas, ours/blas, rel)
		if rel > 1e-4 {
			fmt.Fprintf(os.Stderr, "gemmbench: result differs from OpenBLAS (max rel err %.2e)\n", rel)
			os.Exit(1)
		}
	}
	fmt.Printf("scaling_1_to_2_threads %.2f\n", scaling(newProblem(1024, 1152, 2880), *rounds, target))
	fmt.Printf("sgemm_vs_openblas %.2f\n", median(ratios))
}
