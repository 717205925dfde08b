package cpu

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// rounded returns a copy of x rounded to the 16-bit dtype dt, or x's
// clone for Float32.
func rounded(t *testing.T, x *kernels.Tensor, dt kernels.DType) *kernels.Tensor {
	t.Helper()
	if dt == kernels.Float32 {
		return x.Clone()
	}
	h, err := x.ToHalf(dt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.ToF32()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// asWeight converts a float32 tensor to a weight of dtype dt.
func asWeight(t *testing.T, w *kernels.Tensor, dt kernels.DType) *kernels.Tensor {
	t.Helper()
	if dt == kernels.Float32 {
		return w
	}
	h, err := w.ToHalf(dt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBF16MatMulRoundsActivation: bf16 mode equals float32 mode on an
// activation pre-rounded to the weight's dtype (Float32 weights: the
// unrounded activation), bit for bit, and leaves the caller's a alone.
func TestBF16MatMulRoundsActivation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f32, bf := New(Config{}), New(Config{Precision: kernels.PrecisionBF16})
	if kernels.PrecisionOf(bf) != kernels.PrecisionBF16 || kernels.PrecisionOf(f32) != kernels.PrecisionF32 {
		t.Fatalf("PrecisionOf: bf16 backend %v, default %v", kernels.PrecisionOf(bf), kernels.PrecisionOf(f32))
	}
	for _, dt := range []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16} {
		const m, k, n = 37, 70, 19
		a, w := opRand(rng, m, k), asWeight(t, opRand(rng, n, k), dt)
		bias := asWeight(t, opRand(rng, n), dt)
		orig := slices.Clone(a.F32())
		got, want := opPoisoned(m, n), opPoisoned(m, n)
		if err := bf.MatMul(got, a, w, bias); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.F32(), orig) {
			t.Fatalf("%v: bf16-mode MatMul modified its input a", dt)
		}
		if err := f32.MatMul(want, rounded(t, a, dt), w, bias); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.F32(), want.F32()) {
			t.Errorf("%v: bf16-mode MatMul differs from float32 mode on the rounded activation", dt)
		}
	}
}

// TestBF16Conv2DRoundsInput: dense and pointwise convolutions with 16-bit
// weights round x; depthwise and grouped non-pointwise ones, and Float32
// weights, do not. x is never modified.
func TestBF16Conv2DRoundsInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f32, bf := New(Config{Threads: 3}), New(Config{Threads: 3, Precision: kernels.PrecisionBF16})
	cases := []struct {
		name            string
		cin, cout, kh   int
		stride, pad, gr int
		rounds          bool
	}{
		{"dense3x3", 6, 8, 3, 1, 1, 1, true},
		{"dense3x3_s2", 5, 4, 3, 2, 1, 1, true},
		{"pointwise", 13, 9, 1, 1, 0, 1, true},
		{"grouped_pointwise", 12, 6, 1, 1, 0, 3, true},
		{"depthwise", 8, 8, 3, 1, 1, 8, false},
		{"grouped3x3", 8, 4, 3, 1, 1, 2, false},
	}
	for _, c := range cases {
		for _, dt := range []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16} {
			const b, h, wd = 2, 7, 5
			x := opRand(rng, b, h, wd, c.cin)
			w := asWeight(t, opRand(rng, c.cout, c.kh, c.kh, c.cin/c.gr), dt)
			bias := asWeight(t, opRand(rng, c.cout), dt)
			p := kernels.ConvParams{Stride: c.stride, Pad: c.pad, Groups: c.gr}
			ho, wo := (h+2*c.pad-c.kh)/c.stride+1, (wd+2*c.pad-c.kh)/c.stride+1
			orig := slices.Clone(x.F32())
			got, want := opPoisoned(b, ho, wo, c.cout), opPoisoned(b, ho, wo, c.cout)
			if err := bf.Conv2D(got, x, w, bias, p); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x.F32(), orig) {
				t.Fatalf("%s/%v: bf16-mode Conv2D modified its input x", c.name, dt)
			}
			ref := x
			if c.rounds {
				ref = rounded(t, x, dt)
			}
			if err := f32.Conv2D(want, ref, w, bias, p); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.F32(), want.F32()) {
				t.Errorf("%s/%v: bf16-mode Conv2D differs from float32 mode on the expected input", c.name, dt)
			}
		}
	}
}
