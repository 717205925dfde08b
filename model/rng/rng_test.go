package rng

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/model/weights"
)

// goldenCases are the tensors of testdata/golden/torch_randn (README
// there): seed and shape, each drawn as float32 and as float64.
var goldenCases = []struct {
	seed  uint64
	shape string
}{
	{7001, "2x4x3x5"}, {0, "1x32x16x16"}, {42, "1x32x32x32"}, {123, "15"},
	{123, "16"}, {123, "17"}, {2024, "3x7"}, {9, "1x32x8x8"},
}

// f64MaxULP bounds the last-bit differences allowed on the float64
// cases: PyTorch's float64 path calls glibc's log/sin/cos, which are not
// always correctly rounded; ours are.
const f64MaxULP = 2

func openGolden(t *testing.T) *weights.File {
	t.Helper()
	f, err := weights.Open(os.DirFS("../../testdata/golden/torch_randn"), "outputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func numel(t *testing.T, shape []int) int {
	t.Helper()
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func TestGoldenFloat32(t *testing.T) {
	f := openGolden(t)
	for _, gc := range goldenCases {
		name := fmt.Sprintf("seed%d_%s", gc.seed, gc.shape)
		t.Run(name, func(t *testing.T) {
			want, shape, err := f.Float64s(name)
			if err != nil {
				t.Fatal(err)
			}
			got := NewTorch(gc.seed).Randn(numel(t, shape))
			bad := 0
			for i, w := range want {
				if math.Float32bits(got[i]) != math.Float32bits(float32(w)) {
					if bad < 5 {
						t.Errorf("[%d] = %v, want %v", i, got[i], float32(w))
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d values differ", bad, len(want))
			}
		})
	}
}

func TestGoldenFloat64(t *testing.T) {
	f := openGolden(t)
	total, diff := 0, 0
	for _, gc := range goldenCases {
		name := fmt.Sprintf("seed%d_%s_f64", gc.seed, gc.shape)
		t.Run(name, func(t *testing.T) {
			want, shape, err := f.Float64s(name)
			if err != nil {
				t.Fatal(err)
			}
			got := NewTorch(gc.seed).RandnF64(numel(t, shape))
			for i, w := range want {
				total++
				d := int64(math.Float64bits(got[i])) - int64(math.Float64bits(w))
				if d != 0 {
					diff++
				}
				if d > f64MaxULP || d < -f64MaxULP {
					t.Errorf("[%d] = %v, want %v (%d ulp)", i, got[i], w, d)
				}
			}
		})
	}
	t.Logf("float64: %d of %d values differ in the last bits (glibc rounding)", diff, total)
	if diff*200 > total {
		t.Errorf("%d of %d float64 values differ; expected under 0.5%%", diff, total)
	}
}

// TestContinuation checks that a generator continues as PyTorch's does
// across calls: the scalar path's cached second value carries over, and
// the fill path consumes exactly n (plus 16 for a ragged tail) draws.
func TestContinuation(t *testing.T) {
	g := NewTorch(5)
	a := g.Randn(3)
	b := g.Randn(3)
	all := NewTorch(5).Randn(6) // scalar path too: 6 < 16
	for i := range 3 {
		if a[i] != all[i] || b[i] != all[3+i] {
			t.Fatalf("split draws differ from one draw at %d", i)
		}
	}
	g1, g2 := NewTorch(5), NewTorch(5)
	g1.Randn(17)
	for range 17 + 16 {
		g2.mt.uint32()
	}
	if g1.mt.uint32() != g2.mt.uint32() {
		t.Fatal("fill path consumed an unexpected number of draws")
	}
}

func TestDeterminism(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 1000} {
		a, b := NewTorch(77).Randn(n), NewTorch(77).Randn(n)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("n=%d: run differs at %d", n, i)
			}
		}
	}
	if NewTorch(1).Randn(32)[0] == NewTorch(2).Randn(32)[0] {
		t.Error("seeds 1 and 2 give the same first value")
	}
	// Only the low 32 bits of the seed matter, as in PyTorch.
	if NewTorch(1<<32 + 9).Randn(20)[19] != NewTorch(9).Randn(20)[19] {
		t.Error("seed high bits changed the stream")
	}
}

// TestMT19937Reference checks the engine against the C++ standard's
// required 10000th output of std::mt19937 with the default seed 5489.
func TestMT19937Reference(t *testing.T) {
	m := newMT19937(5489)
	var v uint32
	for range 10000 {
		v = m.uint32()
	}
	if v != 4123659995 {
		t.Fatalf("10000th output = %d, want 4123659995", v)
	}
}

func TestSampleSeed(t *testing.T) {
	cases := []struct {
		job  uint64
		i    int
		want uint64
	}{
		// SplitMix64 with state 0 yields these as its first outputs.
		{0, 0, 0xe220a8397b1dcdaf},
		{0, 1, 0x6e789e6aa1b965f4},
		{0, 2, 0x06c45d188009454f},
	}
	for _, c := range cases {
		if got := SampleSeed(c.job, c.i); got != c.want {
			t.Errorf("SampleSeed(%d, %d) = %#x, want %#x", c.job, c.i, got, c.want)
		}
	}
	seen := map[uint64]bool{}
	for job := range uint64(4) {
		for i := range 256 {
			s := SampleSeed(job, i)
			if seen[s] {
				t.Fatalf("SampleSeed(%d, %d) repeats a seed", job, i)
			}
			seen[s] = true
		}
	}
}

// bigLog returns log(x) to 200 bits: atanh series after reducing x to
// [0.5, 1) times a power of two.
func bigLog(x float64) float64 {
	const prec = 200
	one := new(big.Float).SetPrec(prec).SetInt64(1)
	atanh2 := func(t *big.Float) *big.Float { // 2·atanh(t)
		sum := new(big.Float).SetPrec(prec).Set(t)
		t2 := new(big.Float).SetPrec(prec).Mul(t, t)
		pow := new(big.Float).SetPrec(prec).Set(t)
		for k := int64(3); k < 400; k += 2 {
			pow.Mul(pow, t2)
			sum.Add(sum, new(big.Float).SetPrec(prec).Quo(pow, new(big.Float).SetInt64(k)))
		}
		return sum.Mul(sum, new(big.Float).SetInt64(2))
	}
	m, e := math.Frexp(x)
	mt := new(big.Float).SetPrec(prec).SetFloat64(m)
	num := new(big.Float).SetPrec(prec).Sub(mt, one)
	den := new(big.Float).SetPrec(prec).Add(mt, one)
	r := atanh2(num.Quo(num, den))
	third := new(big.Float).SetPrec(prec).Quo(one, new(big.Float).SetInt64(3))
	ln2 := atanh2(third)
	r.Add(r, ln2.Mul(ln2, new(big.Float).SetInt64(int64(e))))
	f, _ := r.Float64()
	return f
}

// bigSinCos returns sin(x) and cos(x) to 200 bits by the Taylor series.
func bigSinCos(x float64) (float64, float64) {
	const prec = 200
	xb := new(big.Float).SetPrec(prec).SetFloat64(x)
	x2 := new(big.Float).SetPrec(prec).Mul(xb, xb)
	s := new(big.Float).SetPrec(prec).Set(xb)
	c := new(big.Float).SetPrec(prec).SetInt64(1)
	ts := new(big.Float).SetPrec(prec).Set(xb)
	tc := new(big.Float).SetPrec(prec).SetInt64(1)
	for k := int64(1); k < 60; k++ {
		ts.Mul(ts, x2).Quo(ts, new(big.Float).SetInt64(-(2*k)*(2*k+1)))
		tc.Mul(tc, x2).Quo(tc, new(big.Float).SetInt64(-(2*k-1)*(2*k)))
		s.Add(s, ts)
		c.Add(c, tc)
	}
	sf, _ := s.Float64()
	cf, _ := c.Float64()
	return sf, cf
}

func TestCorrectlyRounded(t *testing.T) {
	g := NewTorch(3)
	n := 2000
	if testing.Short() {
		n = 200
	}
	for range n {
		u := g.uniform53()
		x := 1 - u
		if got, want := logCR(x), bigLog(x); got != want {
			t.Errorf("logCR(%v) = %v, want %v", x, got, want)
		}
		th := 2 * math.Pi * u
		s, c := sinCosCR(th)
		ws, wc := bigSinCos(th)
		if s != ws || c != wc {
			t.Errorf("sinCosCR(%v) = %v, %v, want %v, %v", th, s, c, ws, wc)
		}
	}
	for _, x := range []float64{0x1p-53, 1 - 0x1p-53, 0.5, 1, 2} {
		if got, want := logCR(x), bigLog(x); got != want {
			t.Errorf("logCR(%v) = %v, want %v", x, got, want)
		}
	}
	for _, x := range []float64{0, 0x1p-40, math.Pi / 4, math.Pi / 2, math.Pi, 3 * math.Pi / 2, 2 * math.Pi} {
		s, c := sinCosCR(x)
		ws, wc := bigSinCos(x)
		if s != ws || c != wc {
			t.Errorf("sinCosCR(%v) = %v, %v, want %v, %v", x, s, c, ws, wc)
		}
	}
}

func TestFMA32(t *testing.T) {
	// 1 + 2^-24 is the midpoint between 1 and the next float32; the tiny
	// product decides the rounding, which a float64 detour gets wrong.
	a, b := float32(0x1p-24), float32(1+0x1p-23)
	if got := fma32(a, b, 1); got != 1+0x1p-23 {
		t.Errorf("fma32 = %v, want %v", got, float32(1+0x1p-23))
	}
	if got := fma32(2, 3, 4); got != 10 {
		t.Errorf("fma32(2,3,4) = %v", got)
	}
}

func BenchmarkRandn(b *testing.B) {
	for _, n := range []int{32 * 32 * 32, 32 * 128 * 128} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				NewTorch(1).Randn(n)
			}
		})
	}
}
