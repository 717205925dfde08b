//go:build cuda

package cuda

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/kernelstest"
)

var (
	bf16Once sync.Once
	bf16Be   *Backend
	bf16Err  error
)

// bf16Backend returns one shared backend in bf16 precision.
func bf16Backend(t testing.TB) *Backend {
	t.Helper()
	bf16Once.Do(func() { bf16Be, bf16Err = New(Config{Precision: kernels.PrecisionBF16}) })
	if bf16Err != nil {
		t.Skipf("no usable CUDA device: %v", bf16Err)
	}
	return bf16Be
}

// TestConformanceBF16 runs the whole suite in bf16 precision; the suite
// widens its tolerances for the ops that multiply on tensor cores.
func TestConformanceBF16(t *testing.T) {
	be := bf16Backend(t)
	if kernels.PrecisionOf(be) != kernels.PrecisionBF16 {
		t.Fatalf("precision %v, want bf16", kernels.PrecisionOf(be))
	}
	kernelstest.Run(t, func(t *testing.T) kernels.Backend { return be })
	if err := be.Sync(); err != nil {
		t.Fatalf("sync after the suite: %v", err)
	}
}

func randHost(rng *rand.Rand, shape ...int) *kernels.Tensor {
	h := kernels.MustNew(kernels.Float32, shape...)
	for i := range h.F32() {
		h.F32()[i] = float32(rng.NormFloat64())
	}
	return h
}

// relErr is max|got − want| / max|want|.
func relErr(got, want []float32) float64 {
	var d, m float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	return d / m
}

// TestAttentionGEMMMatchesFlash checks the bf16 mode's GEMM attention
// against the exact flash kernel at Sana's cross-attention shape (masked
// caption padding) and Gemma-2's (grouped heads, soft cap, causal window).
func TestAttentionGEMMMatchesFlash(t *testing.T) {
	exact, fast := testBackend(t), bf16Backend(t)
	cases := []struct {
		name                   string
		b, tq, tk, hq, hkv, dh int
		p                      kernels.AttnParams
		perQuery               bool
	}{
		{"sana-cross", 3, 256, 300, 20, 20, 112, kernels.AttnParams{Heads: 20}, false},
		{"gemma", 2, 77, 77, 8, 4, 256, kernels.AttnParams{Heads: 8, KVHeads: 4, SoftCap: 50, Causal: true, Window: 16}, true},
		{"tiny", 1, 1, 1, 1, 1, 1, kernels.AttnParams{Heads: 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.tq), uint64(c.tk)))
			q, k, v := randHost(rng, c.b, c.tq, c.hq*c.dh), randHost(rng, c.b, c.tk, c.hkv*c.dh), randHost(rng, c.b, c.tk, c.hkv*c.dh)
			var mask *kernels.Tensor
			if c.perQuery {
				mask = kernels.MustNew(kernels.Float32, c.b, c.tq, c.tk)
			} else {
				mask = kernels.MustNew(kernels.Float32, c.b, c.tk)
			}
			for i := range mask.F32() { // the last third of the keys is padding
				if i%c.tk >= 2*c.tk/3+1 {
					mask.F32()[i] = -10000
				}
			}
			var outs [2]*kernels.Tensor
			for i, be := range []*Backend{exact, fast} {
				dq, dk, dv, dm := up(t, be, q), up(t, be, k), up(t, be, v), up(t, be, mask)
				dst, err := be.Alloc(kernels.Float32, c.b, c.tq, c.hq*c.dh)
				if err != nil {
					t.Fatal(err)
				}
				if err := be.Attention(dst, dq, dk, dv, dm, c.p); err != nil {
					t.Fatal(err)
				}
				if outs[i], err = kernels.Download(be, dst); err != nil {
					t.Fatal(err)
				}
			}
			if e := relErr(outs[1].F32(), outs[0].F32()); e > 3e-3 || math.IsNaN(e) {
				t.Errorf("GEMM attention vs flash: relative error %.3g > 3e-3 (TF32 operands)", e)
			} else {
				t.Logf("relative error %.3g", e)
			}
		})
	}
}

// TestConvBF16MatchesF32 checks the tensor-core convolutions (dense 3×3
// through im2col_bf16, 1×1 through a cast) against exact float32 on the
// same bf16 weights: only the activation rounding differs.
func TestConvBF16MatchesF32(t *testing.T) {
	exact, fast := testBackend(t), bf16Backend(t)
	for _, k := range []int{3, 1} {
		rng := rand.New(rand.NewPCG(7, uint64(k)))
		x := randHost(rng, 2, 33, 17, 64)
		w32 := randHost(rng, 96, k, k, 64)
		w, err := w32.ToHalf(kernels.BFloat16)
		if err != nil {
			t.Fatal(err)
		}
		bias := randHost(rng, 96)
		var outs [2]*kernels.Tensor
		for i, be := range []*Backend{exact, fast} {
			dst, err := be.Alloc(kernels.Float32, 2, 33, 17, 96)
			if err != nil {
				t.Fatal(err)
			}
			if err := be.Conv2D(dst, up(t, be, x), up(t, be, w), up(t, be, bias), kernels.ConvParams{Stride: 1, Pad: k / 2, Groups: 1}); err != nil {
				t.Fatal(err)
			}
			if outs[i], err = kernels.Download(be, dst); err != nil {
				t.Fatal(err)
			}
		}
		if e := relErr(outs[1].F32(), outs[0].F32()); e > 1e-2 || e == 0 || math.IsNaN(e) {
			t.Errorf("%d×%d conv bf16 vs f32: relative error %.3g, want in (0, 1e-2]", k, k, e)
		}
	}
}

func up(t *testing.T, be *Backend, h *kernels.Tensor) *kernels.Tensor {
	t.Helper()
	d, err := be.Upload(h)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
