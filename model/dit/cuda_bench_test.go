//go:build cuda

package dit

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda"
)

// BenchmarkCUDAStep1600M1024 times one full denoising forward of a
// Sana-1.6B-shaped transformer (20 layers, hidden 2240) with random
// weights at 1024² (32×32 latents), batch 2, 300 caption tokens, on
// the CUDA backend. Only in cuda-tagged test binaries (scripts/gpu-check.sh).
func BenchmarkCUDAStep1600M1024(b *testing.B) {
	be, err := cuda.New(cuda.Config{Logger: slog.New(slog.DiscardHandler)}) // keep the benchmark lines parseable
	if err != nil {
		b.Skipf("no usable CUDA device: %v", err)
	}
	defer be.Close()
	cfg := Config{ClassName: ClassName, InChannels: 32, NumAttentionHeads: 70, AttentionHeadDim: 32, NumLayers: 20,
		NumCrossAttnHeads: 20, CrossAttnHeadDim: 112, CrossAttentionDim: 2240, CaptionChannels: 2304, MLPRatio: 2.5,
		NormEps: 1e-6, SampleSize: 32, PatchSize: 1}
	// Drawing 1.6B random values on the host takes minutes of the lent
	// GPU's time; one random block shared by all 20 layers computes the same
	// shapes (a block's 312 MB of weights dwarf the 50 MB L2 either way).
	one := cfg
	one.NumLayers = 1
	w, err := RandomWeights(one, 1)
	if err != nil {
		b.Fatal(err)
	}
	for len(w.blocks) < cfg.NumLayers {
		w.blocks = append(w.blocks, w.blocks[0])
	}
	m := New(cfg, w, be)
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(shape ...int) *kernels.Tensor {
		t := kernels.MustNew(kernels.Float32, shape...)
		for i := range t.F32() {
			t.F32()[i] = float32(rng.NormFloat64())
		}
		return t
	}
	ctx := context.Background()
	cd, err := m.PrepareCond(ctx, rnd(2, 300, 2304), nil)
	if err != nil {
		b.Fatal(err)
	}
	x, t := rnd(2, 32, 32, 32), []float32{500, 500}
	step := func() {
		if _, err := m.Forward(ctx, x, t, nil, cd); err != nil {
			b.Fatal(err)
		}
		if err := be.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	step() // warm-up: cuBLAS load, allocator cache
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
}
