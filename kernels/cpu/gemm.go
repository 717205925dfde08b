package cpu

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sanafarm/sanafarm/kernels"
)

// matB is the right-hand GEMM operand: Float32 or 16-bit float storage,
// row-major with leading dimension ld. When trans, element (p, j) of the
// logical K×N operand is at j*ld + p (PyTorch [N, K] weight layout);
// otherwise at p*ld + j.
type matB struct {
	f32   []float32
	u16   []uint16
	dt    kernels.DType
	ld    int
	trans bool
}

func (m matB) at(p, j int) float32 {
	i := p*m.ld + j
	if m.trans {
		i = j*m.ld + p
	}
	if m.f32 != nil {
		return m.f32[i]
	}
	return kernels.HalfToF32(m.dt, m.u16[i])
}

// The GEMM follows the GotoBLAS/BLIS structure. For each thread's block of
// C, the loops are, outermost first:
//
//	jc: nc columns of B   — packed B block kc×nc lives in L2/L3
//	pc: kc of the K range — one rank-kc update of C per step
//	ic: mc rows of A      — packed A block mc×kc lives in L2
//	jr: nr columns        — one packed B micro-panel (kc×nr) stays in L1
//	ir: mr rows           — the micro-kernel: an mr×nr tile of C in registers
//
// Packing copies the operands into the exact order the micro-kernel reads
// them (unit stride, zero-padded to whole tiles), which is also where
// 16-bit weights are widened: they stay 16-bit in memory and only one
// kc×nc block exists as float32 at a time.
const (
	gemmMR = 6   // micro-tile rows: 6 broadcasts of A per k step
	gemmNR = 16  // micro-tile columns: two 8-lane ymm vectors of B
	gemmKC = 320 // max depth of a rank-kc update: B micro-panel kc·nr·4 B = 20 KiB ≤ L1
	gemmMC = 96  // max rows of a packed A block: mc·kc·4 B = 120 KiB, in L2
	// gemmNC is the max width of a packed B block (kc·nc·4 B ≈ 2.5 MiB,
	// from L3); wide enough that A is repacked rarely, and a thread's N
	// share at the Sana shapes (≤ 2880) takes one or two blocks.
	gemmNC = 2048
)

// Block sizes were tuned on a Zen 4 EPYC (32 KiB L1d, 1 MiB L2) against
// OpenBLAS with kernels/cpu/internal/gemmbench; blockSize balances them.

// gemmMinColsPerThread is the smallest N share worth a thread of its own
// (below it threads split M instead, and each packs all of B).
const gemmMinColsPerThread = 4 * gemmNR

// gemmJob holds the operands of one gemm call; run computes one rectangle
// of C and may be called concurrently on disjoint rectangles.
type gemmJob struct {
	k   int
	a   []float32
	lda int
	b   matB
	c   []float32
	ldc int
	acc bool
	// simd selects the assembly packers.
	simd bool
	// kern is the micro-kernel: C tile (mr×nr at c, row stride ldc) =
	// (acc ? C : 0) + packed A panel · packed B panel.
	kern func(kc int, a, b []float32, c []float32, ldc int, acc bool)
}

// gemm computes C[m×n] = A[m×k]·B[k×n] (+ C when accumulate), A row-major
// with leading dimension lda, C with ldc. With k == 0, C is zeroed (or left
// unchanged when accumulate).
func (b *Backend) gemm(m, n, k int, a []float32, lda int, bm matB, c []float32, ldc int, accumulate bool) {
	if m <= 0 || n <= 0 {
		return
	}
	// The assembly kernel writes C through raw pointers, so the extents
	// are checked once here rather than trusted.
	if len(c) < (m-1)*ldc+n || ldc < n {
		panic(fmt.Sprintf("cpu: gemm: C has %d elements, need %d×%d with ldc %d", len(c), m, n, ldc))
	}
	if k <= 0 {
		if !accumulate {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	job := &gemmJob{k: k, a: a, lda: lda, b: bm, c: c, ldc: ldc, acc: accumulate, simd: b.simd, kern: kernGo}
	if b.simd {
		job.kern = kernSIMD
	}
	tm, tn := gemmGrid(b.threads, m, n)
	if tm*tn == 1 {
		job.run(0, m, 0, n)
		return
	}
	job.parallel(b.threads, m, n, tm, tn)
}

// gemmChunksPerThread over-decomposes the N split: on a shared machine a
// thread can lose its core for a while, and with one static piece per
// thread the whole op would wait for it. Smaller pieces handed out on
// demand let the other threads take up the slack. Each piece costs one
// more packing of A (M×K values, about 1% of a piece's time at the Sana
// shapes), so the pieces stay few.
const gemmChunksPerThread = 2

// parallel runs the tm×tn grid of C blocks on threads goroutines, with
// each column block further cut into gemmChunksPerThread pieces (of at
// least gemmMinColsPerThread columns) that the goroutines claim in order.
func (g *gemmJob) parallel(threads, m, n, tm, tn int) {
	cn := max(tn, min(tn*gemmChunksPerThread, n/gemmMinColsPerThread))
	items := tm * cn
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(threads, items) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				it := int(next.Add(1) - 1)
				if it >= items {
					return
				}
				m0, m1 := splitRange(m, tm, it/cn, gemmMR)
				n0, n1 := splitRange(n, cn, it%cn, gemmNR)
				if m0 < m1 && n0 < n1 {
					g.run(m0, m1, n0, n1)
				}
			}
		}()
	}
	wg.Wait()
}

// gemmGrid chooses how threads tile C: tm row blocks × tn column blocks.
// Splitting N is preferred: each thread then packs only its own part of B
// and the shared A is read-only, so nothing is packed twice except the
// (cheap, M×K) A blocks. Narrow outputs fall back to splitting M.
func gemmGrid(threads, m, n int) (tm, tn int) {
	if threads <= 1 {
		return 1, 1
	}
	tn = min(threads, max(1, n/gemmMinColsPerThread))
	tm = min(max(1, threads/tn), max(1, (m+gemmMR-1)/gemmMR))
	return tm, tn
}

// splitRange returns part i of [0, n) cut into parts pieces whose
// boundaries fall on multiples of unit, so only the last piece of each
// thread has a partial micro-tile.
func splitRange(n, parts, i, unit int) (lo, hi int) {
	units := (n + unit - 1) / unit
	per := (units + parts - 1) / parts
	lo = min(n, i*per*unit)
	hi = min(n, (i+1)*per*unit)
	return lo, hi
}

// blockSize splits extent into the fewest blocks of at most limit and
// returns the (balanced) block size rounded up to a multiple of unit:
// K=1152 with a limit of 320 becomes 4 blocks of 288 instead of
// 320+320+320+192, so no rank-kc update is a short, overhead-heavy one.
func blockSize(extent, limit, unit int) int {
	blocks := (extent + limit - 1) / limit
	bs := (extent + blocks - 1) / blocks
	return (bs + unit - 1) / unit * unit
}

// gemmBufs are one thread's packing buffers, recycled through a pool so the
// steady state allocates nothing.
type gemmBufs struct {
	a, b []float32
}

var gemmPool = sync.Pool{New: func() any { return new(gemmBufs) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// run computes the rectangle rows [m0, m1) × columns [n0, n1) of C.
func (g *gemmJob) run(m0, m1, n0, n1 int) {
	kc := blockSize(g.k, gemmKC, 1)
	nc := blockSize(n1-n0, gemmNC, gemmNR)
	mc := blockSize(m1-m0, gemmMC, gemmMR)
	bufs := gemmPool.Get().(*gemmBufs)
	defer gemmPool.Put(bufs)
	bufs.a = grow(bufs.a, mc*kc)
	bufs.b = grow(bufs.b, nc*kc)
	for jc := n0; jc < n1; jc += nc {
		nb := min(nc, n1-jc)
		for pc := 0; pc < g.k; pc += kc {
			kb := min(kc, g.k-pc)
			packB(bufs.b, g.b, pc, kb, jc, nb, g.simd)
			// Only the first rank-kc update may overwrite C.
			acc := g.acc || pc > 0
			for ic := m0; ic < m1; ic += mc {
				mb := min(mc, m1-ic)
				packA(bufs.a, g.a, g.lda, ic, mb, pc, kb)
				g.macro(bufs.a, bufs.b, ic, mb, jc, nb, kb, acc)
			}
		}
	}
}

// macro multiplies a packed mb×kb block of A by a packed kb×nb block of B
// into C at (ic, jc), one micro-tile at a time. Tiles that stick out of C
// are computed into a scratch tile and only their valid part is written.
func (g *gemmJob) macro(ap, bp []float32, ic, mb, jc, nb, kb int, acc bool) {
	var tile [gemmMR * gemmNR]float32
	for jr := 0; jr < nb; jr += gemmNR {
		bpan := bp[jr*kb : (jr+gemmNR)*kb]
		nw := min(gemmNR, nb-jr)
		for ir := 0; ir < mb; ir += gemmMR {
			apan := ap[ir*kb : (ir+gemmMR)*kb]
			mw := min(gemmMR, mb-ir)
			off := (ic+ir)*g.ldc + jc + jr
			if mw == gemmMR && nw == gemmNR {
				g.kern(kb, apan, bpan, g.c[off:], g.ldc, acc)
				continue
			}
			g.kern(kb, apan, bpan, tile[:], gemmNR, false)
			for i := range mw {
				dst := g.c[off+i*g.ldc : off+i*g.ldc+nw]
				src := tile[i*gemmNR : i*gemmNR+nw]
				if acc {
					for j := range dst {
						dst[j] += src[j]
					}
				} else {
					copy(dst, src)
				}
			}
		}
	}
}
