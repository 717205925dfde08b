package dit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// BenchmarkBlock600M512 times one Sana-600M block at 512² (256 tokens,
// batch 2, 300 caption tokens) for 1, 2, 4, ... threads; see make
// bench-dit for the comparison with PyTorch.
func BenchmarkBlock600M512(b *testing.B) {
	for t := 1; t <= runtime.NumCPU(); t *= 2 {
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) { benchBlock(b, t, 16) })
	}
}

// BenchmarkBlock600M1024 is the same block at 1024² (1024 tokens).
func BenchmarkBlock600M1024(b *testing.B) {
	for t := 1; t <= runtime.NumCPU(); t *= 2 {
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) { benchBlock(b, t, 32) })
	}
}

func benchBlock(b *testing.B, threads, side int) {
	cfg := Config{ClassName: ClassName, InChannels: 32, NumAttentionHeads: 36, AttentionHeadDim: 32, NumLayers: 1,
		NumCrossAttnHeads: 16, CrossAttnHeadDim: 72, CrossAttentionDim: 1152, CaptionChannels: 2304, MLPRatio: 2.5,
		NormEps: 1e-6, PatchSize: 1}
	w, err := RandomWeights(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	m := New(cfg, w, cpu.New(cpu.Config{Threads: threads}))
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(shape ...int) *kernels.Tensor {
		t := kernels.MustNew(kernels.Float32, shape...)
		for i := range t.F32() {
			t.F32()[i] = float32(rng.NormFloat64())
		}
		return t
	}
	cd, err := m.PrepareCond(context.Background(), rnd(2, 300, 2304), nil)
	if err != nil {
		b.Fatal(err)
	}
	hid, tmod := rnd(2, side*side, 1152), rnd(2, 6*1152)
	x0 := append([]float32(nil), hid.F32()...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(hid.F32(), x0)
		if err := m.RunBlock(context.Background(), 0, hid, tmod, cd, side, side); err != nil {
			b.Fatal(err)
		}
	}
}
