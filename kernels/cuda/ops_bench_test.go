//go:build cuda

package cuda

import (
	"fmt"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// Benchmarks of the non-GEMM ops at Sana / DC-AE / Gemma-2 shapes (GPU
// hosts only: go test -tags cuda -run ^$ -bench Ops ./kernels/cuda/).

// benchOp times f (after one warm-up call) and reports TFLOP/s when flops
// per call is given.
func benchOp(b *testing.B, be *Backend, flops float64, f func() error) {
	if err := f(); err != nil {
		b.Fatal(err)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	if flops > 0 {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
	}
}

func randT(b *testing.B, be *Backend, shape ...int) *kernels.Tensor {
	t := mustAlloc(b, be, kernels.Float32, shape...)
	fillRandom(b, be, t)
	return t
}

func BenchmarkOpsConv(b *testing.B) {
	cases := []struct {
		name                     string
		h, w, cin, cout, k, grps int
	}{
		{"dense3x3_512_128px", 128, 128, 512, 512, 3, 1},
		{"dense3x3_128_512px", 512, 512, 128, 128, 3, 1},
		{"pointwise_512to1024_128px", 128, 128, 512, 1024, 1, 1},
		{"grouped1x1_g24_768_64px", 64, 64, 768, 768, 1, 24},
		{"depthwise5x5_1536_64px", 64, 64, 1536, 1536, 5, 1536},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			be := testBackend(b)
			x := randT(b, be, 1, c.h, c.w, c.cin)
			w := randT(b, be, c.cout, c.k, c.k, c.cin/c.grps)
			dst := mustAlloc(b, be, kernels.Float32, 1, c.h, c.w, c.cout)
			p := kernels.ConvParams{Stride: 1, Pad: c.k / 2, Groups: c.grps}
			flops := 2 * float64(c.h*c.w) * float64(c.cout) * float64(c.k*c.k*c.cin/c.grps)
			benchOp(b, be, flops, func() error { return be.Conv2D(dst, x, w, nil, p) })
		})
	}
	// The implicit-GEMM kernel on the first case, for comparison with cuBLAS.
	b.Run("implicit_dense3x3_512_128px", func(b *testing.B) {
		be := testBackend(b)
		x, w := randT(b, be, 1, 128, 128, 512), randT(b, be, 512, 3, 3, 512)
		dst := mustAlloc(b, be, kernels.Float32, 1, 128, 128, 512)
		grid := [3]uint32{128 * 128 / 64, 512 / 64, 1}
		benchOp(b, be, 2*128*128*512*9*512.0, func() error {
			return be.launch("conv_gemm", grid, [3]uint32{256, 1, 1}, 0, dst, x, w, int32(1), (*kernels.Tensor)(nil), int32(0),
				int32(1), int32(128), int32(128), int32(512), int32(128), int32(128), int32(512),
				int32(3), int32(3), int32(1), int32(1), int32(1))
		})
	})
}

func BenchmarkOpsAttention(b *testing.B) {
	cases := []struct {
		name                    string
		nb, tq, tk, hq, hkv, dh int
		causal                  bool
	}{
		{"sana1.6b_cross_1024px", 2, 1024, 300, 20, 20, 112, false},
		{"sana600m_cross_4096px", 2, 16384, 300, 16, 16, 72, false},
		{"gemma2_self_300", 1, 300, 300, 8, 4, 256, true},
		{"self_4096_dh64", 1, 4096, 4096, 16, 16, 64, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			be := testBackend(b)
			q := randT(b, be, c.nb, c.tq, c.hq*c.dh)
			k, v := randT(b, be, c.nb, c.tk, c.hkv*c.dh), randT(b, be, c.nb, c.tk, c.hkv*c.dh)
			dst := mustAlloc(b, be, kernels.Float32, c.nb, c.tq, c.hq*c.dh)
			p := kernels.AttnParams{Heads: c.hq, KVHeads: c.hkv, Causal: c.causal}
			flops := 4 * float64(c.nb*c.hq) * float64(c.tq) * float64(c.tk) * float64(c.dh)
			benchOp(b, be, flops, func() error { return be.Attention(dst, q, k, v, nil, p) })
		})
	}
}

func BenchmarkOpsLinearAttention(b *testing.B) {
	for _, n := range []int{1024, 16384} {
		b.Run(fmt.Sprintf("B2_N%d_H70_Dh32", n), func(b *testing.B) {
			be := testBackend(b)
			q, k, v := randT(b, be, 2, n, 2240), randT(b, be, 2, n, 2240), randT(b, be, 2, n, 2240)
			dst := mustAlloc(b, be, kernels.Float32, 2, n, 2240)
			flops := 4 * 2 * float64(n) * 70 * 33 * 32
			benchOp(b, be, flops, func() error {
				return be.LinearAttention(dst, q, k, v, kernels.LinAttnParams{Heads: 70, Eps: 1e-15})
			})
		})
	}
}

func BenchmarkOpsRows(b *testing.B) {
	be := testBackend(b)
	x := randT(b, be, 2, 1024, 2240)
	sv := randT(b, be, 2, 2240)
	dst := mustAlloc(b, be, kernels.Float32, 2, 1024, 2240)
	s := randT(b, be, 40, 1024, 300)
	gx := randT(b, be, 2, 1024, 4480)
	b.Run("layernorm_modulate_2x1024x2240", func(b *testing.B) {
		benchOp(b, be, 0, func() error { return be.LayerNormModulate(dst, x, sv, sv, 1e-6) })
	})
	b.Run("rmsnorm_2x1024x2240", func(b *testing.B) {
		benchOp(b, be, 0, func() error { return be.RMSNorm(dst, x, nil, nil, kernels.NormParams{Eps: 1e-6}) })
	})
	b.Run("softmax_40x1024x300", func(b *testing.B) {
		benchOp(b, be, 0, func() error { return be.Softmax(s, s, nil, 0) })
	})
	b.Run("glu_silu_2x1024x4480", func(b *testing.B) {
		benchOp(b, be, 0, func() error { return be.GLU(dst, gx, kernels.ActSiLU, false) })
	})
}
