//go:build cuda

package dcae

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda"
)

// BenchmarkCUDADecode times DC-AE (f32c32, Sana's layout and widths)
// decodes of random latents to 512² and 1024² images with random weights
// on the CUDA backend, per precision and images per batch. Only in
// cuda-tagged test binaries (scripts/perf/perf.sh, scripts/gpu-check.sh).
// Sub-benchmark names: <side>/<precision>/img=<n>; metric ms/decode.
func BenchmarkCUDADecode(b *testing.B) {
	c := DefaultConfig()
	types := StrList{"ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"}
	c.EncoderBlockTypes, c.DecoderBlockTypes = types, types
	c.UpsampleBlockType, c.DownsampleBlockType = "interpolate", "conv"
	c.DecoderNormTypes, c.DecoderActFns = StrList{"rms_norm"}, StrList{"silu"}
	for _, prec := range []kernels.Precision{kernels.PrecisionBF16, kernels.PrecisionF32} {
		be, err := cuda.New(cuda.Config{Logger: slog.New(slog.DiscardHandler), Precision: prec,
			Profile: os.Getenv("SANAFARM_CUDA_PROFILE") == "1"})
		if err != nil {
			b.Skipf("no usable CUDA device: %v", err)
		}
		w, err := RandomWeights(c, 1, PartDecoder)
		if err != nil {
			b.Fatal(err)
		}
		m := New(c, w, be)
		for _, side := range []int{512, 1024} {
			for _, imgs := range []int{1, 2, 4, 8, 16} {
				if prec == kernels.PrecisionF32 && (imgs > 1 || side != 1024) { // f32: the before-figure only
					continue
				}
				if side == 1024 && imgs > 8 { // 16 decodes at 1024² hold ~40 GB of activations
					continue
				}
				b.Run(fmt.Sprintf("%d/%v/img=%d", side, prec, imgs), func(b *testing.B) {
					benchDecode(b, m, be, imgs, c.LatentChannels, side/32)
				})
			}
		}
		_ = be.Close()
	}
}

func benchDecode(b *testing.B, m *Model, be *cuda.Backend, n, ch, side int) {
	z := kernels.MustNew(kernels.Float32, n, ch, side, side)
	for i := range z.F32() {
		z.F32()[i] = float32(i%11)/5 - 1
	}
	decode := func() {
		if _, err := m.Decode(context.Background(), z); err != nil {
			b.Fatal(err)
		}
		if err := be.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	decode() // warm-up
	if err := be.ResetProfile(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		decode()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/decode")
	if ops, err := be.Profile(); err != nil {
		b.Fatal(err)
	} else if len(ops) > 0 { // SANAFARM_CUDA_PROFILE=1: where the GPU time went
		b.Logf("profile over %d calls:\n%s", b.N, cuda.ProfileTable(ops, 30))
	}
}
