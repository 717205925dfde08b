//go:build cuda

package dit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda"
)

// benchShapes are the released Sana transformers the perf script times
// (docs/sana.md §2; scripts/perf/perf.sh): name, config, latent side.
var benchShapes = []struct {
	name string
	cfg  Config
}{
	{"600m_512", Config{ClassName: ClassName, InChannels: 32, NumAttentionHeads: 36, AttentionHeadDim: 32, NumLayers: 28,
		NumCrossAttnHeads: 16, CrossAttnHeadDim: 72, CrossAttentionDim: 1152, CaptionChannels: 2304, MLPRatio: 2.5,
		NormEps: 1e-6, SampleSize: 16, PatchSize: 1}},
	{"1600m_1024", Config{ClassName: ClassName, InChannels: 32, NumAttentionHeads: 70, AttentionHeadDim: 32, NumLayers: 20,
		NumCrossAttnHeads: 20, CrossAttnHeadDim: 112, CrossAttentionDim: 2240, CaptionChannels: 2304, MLPRatio: 2.5,
		NormEps: 1e-6, SampleSize: 32, PatchSize: 1}},
}

// benchModel builds a model of cfg's shapes on be. Drawing 1.6B random
// values on the host takes minutes of the lent GPU's time; one random
// block shared by every layer computes the same shapes (a block's weights
// dwarf the 50 MB L2 either way).
func benchModel(b *testing.B, cfg Config, be kernels.Backend) *Model {
	one := cfg
	one.NumLayers = 1
	w, err := RandomWeights(one, 1)
	if err != nil {
		b.Fatal(err)
	}
	for len(w.blocks) < cfg.NumLayers {
		w.blocks = append(w.blocks, w.blocks[0])
	}
	return New(cfg, w, be)
}

// BenchmarkCUDAStep times one denoising forward with classifier-free
// guidance (forward batch 2·images, 300 caption tokens, half of them
// padding) of the Sana-600M (512²) and Sana-1.6B (1024²) transformers with
// random weights, per precision and images per batch. Only in cuda-tagged
// test binaries (scripts/perf/perf.sh, scripts/gpu-check.sh). Sub-benchmark
// names: <model>/<precision>/img=<n>, and <model>/bf16+graph/img=<n> for
// the step replayed as a CUDA graph (dit.Step, Config.Graphs); metric
// ms/step.
func BenchmarkCUDAStep(b *testing.B) {
	profile := os.Getenv("SANAFARM_CUDA_PROFILE") == "1"
	for _, prec := range []kernels.Precision{kernels.PrecisionBF16, kernels.PrecisionF32} {
		be, err := cuda.New(cuda.Config{Logger: slog.New(slog.DiscardHandler), Precision: prec, Profile: profile,
			Graphs: prec == kernels.PrecisionBF16 && !profile})
		if err != nil {
			b.Skipf("no usable CUDA device: %v", err)
		}
		for _, s := range benchShapes {
			m := benchModel(b, s.cfg, be)
			for _, imgs := range []int{1, 2, 4, 8, 16} {
				if prec == kernels.PrecisionF32 && imgs > 1 { // f32 is the before-figure only
					continue
				}
				if prec == kernels.PrecisionBF16 && !profile && imgs%3 == 1 { // 1, 4, 16: launch overhead matters most at small batches
					b.Run(fmt.Sprintf("%s/bf16+graph/img=%d", s.name, imgs), func(b *testing.B) { benchStep(b, m, be, s.cfg, imgs, true) })
				}
				b.Run(fmt.Sprintf("%s/%v/img=%d", s.name, prec, imgs), func(b *testing.B) { benchStep(b, m, be, s.cfg, imgs, false) })
			}
			m.FreeScratch()
		}
		_ = be.Close()
	}
}

func benchStep(b *testing.B, m *Model, be *cuda.Backend, cfg Config, imgs int, graph bool) {
	n := 2 * imgs
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	rnd := func(shape ...int) *kernels.Tensor {
		t := kernels.MustNew(kernels.Float32, shape...)
		for i := range t.F32() {
			t.F32()[i] = float32(rng.NormFloat64())
		}
		return t
	}
	mask := kernels.MustNew(kernels.Float32, n, 300)
	for i := range mask.F32() {
		if i%300 < 150 {
			mask.F32()[i] = 1
		}
	}
	ctx := context.Background()
	cd, err := m.PrepareCond(ctx, rnd(n, 300, cfg.CaptionChannels), mask)
	if err != nil {
		b.Fatal(err)
	}
	x, t := rnd(n, cfg.InChannels, cfg.SampleSize, cfg.SampleSize), make([]float32, n)
	for i := range t {
		t[i] = 500
	}
	forward := func() error {
		_, err := m.Forward(ctx, x, t, nil, cd)
		return err
	}
	var st *Step
	if graph {
		if st, err = m.NewStep(ctx, cd, n, cfg.SampleSize, cfg.SampleSize); err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		forward = func() error {
			_, err := st.Forward(ctx, x, t, nil)
			return err
		}
	}
	step := func() {
		if err := forward(); err != nil {
			b.Fatal(err)
		}
		if err := be.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	step() // warm-up: cuBLAS load, allocator cache
	if graph {
		step() // the capture
		if ok, why := st.Graphed(); !ok {
			b.Fatalf("not replaying a graph: %v", why)
		}
	}
	if err := be.ResetProfile(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/step")
	logProfile(b, be)
}

// logProfile prints where the GPU time of the timed steps went, with
// SANAFARM_CUDA_PROFILE=1 (scripts/perf/perf.sh).
func logProfile(b *testing.B, be *cuda.Backend) {
	ops, err := be.Profile()
	if err != nil {
		b.Fatal(err)
	}
	if len(ops) > 0 {
		b.Logf("profile over %d calls:\n%s", b.N, cuda.ProfileTable(ops, 30))
	}
}
