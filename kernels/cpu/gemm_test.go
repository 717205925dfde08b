package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// gemmCase is one gemm call to check against a float64 reference.
type gemmCase struct {
	m, n, k    int
	trans      bool
	dt         kernels.DType // dtype of B
	acc        bool
	padA, padC int // extra columns beyond the row length (lda = k+padA)
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("m%d_n%d_k%d_trans%v_%v_acc%v_pad%d,%d",
		tc.m, tc.n, tc.k, tc.trans, tc.dt, tc.acc, tc.padA, tc.padC)
}

// gemmBackends returns the backends every case runs on: the assembly and
// the portable micro-kernel, each single-threaded and with three threads
// (an odd count, so the work splits unevenly).
func gemmBackends() map[string]*Backend {
	return map[string]*Backend{
		"simd_t1":     New(Config{Threads: 1}),
		"simd_t3":     New(Config{Threads: 3}),
		"portable_t1": New(Config{Threads: 1, NoSIMD: true}),
		"portable_t3": New(Config{Threads: 3, NoSIMD: true}),
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// makeB builds a K×N operand in the case's dtype and layout, with a padded
// leading dimension so ld handling is exercised too.
func makeB(rng *rand.Rand, tc gemmCase) matB {
	rows, cols := tc.k, tc.n
	if tc.trans {
		rows, cols = tc.n, tc.k
	}
	ld := cols + 3
	vals := randSlice(rng, max(0, (rows-1)*ld+cols))
	bm := matB{dt: tc.dt, ld: ld, trans: tc.trans}
	if tc.dt == kernels.Float32 {
		bm.f32 = vals
		return bm
	}
	bm.u16 = make([]uint16, len(vals))
	for i, v := range vals {
		bm.u16[i] = kernels.F32ToHalf(tc.dt, v)
	}
	return bm
}

const gemmSentinel = float32(12345.5)

// checkGemm runs one case on be and compares every element of C with a
// float64 reference, within 1e-5 of Σ_p |a_ip|·|b_pj| (the scale of the
// rounding error of a float32 dot product), and checks that the padding
// columns of C are untouched.
func checkGemm(t *testing.T, be *Backend, tc gemmCase, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	lda, ldc := tc.k+tc.padA, tc.n+tc.padC
	a := randSlice(rng, max(0, (tc.m-1)*lda+tc.k))
	bm := makeB(rng, tc)
	c := randSlice(rng, max(0, (tc.m-1)*ldc+tc.n))
	for i := range tc.m {
		for j := tc.n; j < ldc && i*ldc+j < len(c); j++ {
			c[i*ldc+j] = gemmSentinel
		}
	}
	c0 := append([]float32(nil), c...)
	be.gemm(tc.m, tc.n, tc.k, a, lda, bm, c, ldc, tc.acc)
	for i := range tc.m {
		for j := range ldc {
			if i*ldc+j >= len(c) {
				break
			}
			got := c[i*ldc+j]
			if j >= tc.n {
				if got != gemmSentinel {
					t.Fatalf("C[%d,%d] (padding) = %v, was overwritten", i, j, got)
				}
				continue
			}
			var want, scale float64
			for p := range tc.k {
				x, y := float64(a[i*lda+p]), float64(bm.at(p, j))
				want += x * y
				scale += math.Abs(x * y)
			}
			if tc.acc {
				want += float64(c0[i*ldc+j])
				scale += math.Abs(float64(c0[i*ldc+j]))
			}
			if d := math.Abs(float64(got) - want); d > 1e-5*scale+1e-30 {
				t.Fatalf("C[%d,%d] = %v, want %v (|diff| %.3g, scale %.3g)", i, j, got, want, d, scale)
			}
		}
	}
}

func TestGemmShapes(t *testing.T) {
	dims := []int{1, 7, 13, 17, 33, 67, 129}
	dts := []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16}
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []gemmCase
	for _, m := range dims {
		for _, n := range dims {
			// One k per (m, n) pair keeps the test fast while still
			// covering every dimension against every other one.
			k := dims[rng.IntN(len(dims))]
			cases = append(cases, gemmCase{
				m: m, n: n, k: k,
				trans: rng.IntN(2) == 0, dt: dts[rng.IntN(3)], acc: rng.IntN(2) == 0,
				padA: rng.IntN(3), padC: rng.IntN(3),
			})
		}
	}
	for name, be := range gemmBackends() {
		t.Run(name, func(t *testing.T) {
			for i, tc := range cases {
				t.Run(tc.String(), func(t *testing.T) { checkGemm(t, be, tc, uint64(i)) })
			}
		})
	}
}

// TestGemmBlocking crosses the block boundaries: K larger than gemmKC
// (several rank-kc updates, the later ones accumulating), M larger than
// gemmMC, N larger than gemmNC, in every layout and dtype of B.
func TestGemmBlocking(t *testing.T) {
	shapes := [][3]int{ // m, n, k
		{255, 67, 2*gemmKC + 17},
		{2*gemmMC + 5, 33, 129},
		{7, gemmNC + 2*gemmNR + 3, 33},
		{129, 255, 255},
	}
	dts := []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16}
	for name, be := range gemmBackends() {
		t.Run(name, func(t *testing.T) {
			for i, s := range shapes {
				for _, trans := range []bool{false, true} {
					tc := gemmCase{m: s[0], n: s[1], k: s[2], trans: trans,
						dt: dts[i%3], acc: i%2 == 1, padA: i % 2, padC: 1}
					t.Run(tc.String(), func(t *testing.T) { checkGemm(t, be, tc, uint64(i)) })
				}
			}
		})
	}
}

// TestGemmDegenerate checks empty products: k == 0 zeroes C (or leaves it
// when accumulating); m == 0 or n == 0 touches nothing.
func TestGemmDegenerate(t *testing.T) {
	for name, be := range gemmBackends() {
		t.Run(name, func(t *testing.T) {
			c := []float32{1, 2, 3, 4, 5, 6}
			bm := matB{f32: []float32{}, dt: kernels.Float32, ld: 3}
			be.gemm(2, 3, 0, nil, 0, bm, c, 3, true)
			if c[0] != 1 || c[5] != 6 {
				t.Fatalf("k=0 accumulate changed C: %v", c)
			}
			be.gemm(2, 2, 0, nil, 0, bm, c, 3, false)
			want := []float32{0, 0, 3, 0, 0, 6}
			for i := range c {
				if c[i] != want[i] {
					t.Fatalf("k=0: C = %v, want %v", c, want)
				}
			}
			be.gemm(0, 3, 5, nil, 5, bm, nil, 3, false)
			be.gemm(3, 0, 5, nil, 5, bm, nil, 0, false)
		})
	}
}

func TestGemmSplitRange(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 100, 2880} {
		for parts := 1; parts <= 4; parts++ {
			next := 0
			for i := range parts {
				lo, hi := splitRange(n, parts, i, gemmNR)
				if lo != next || hi < lo || (hi != n && hi%gemmNR != 0) {
					t.Fatalf("splitRange(%d, %d, %d) = [%d, %d), want start %d on a tile boundary",
						n, parts, i, lo, hi, next)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("splitRange(%d, %d) covers [0, %d)", n, parts, next)
			}
		}
	}
}
