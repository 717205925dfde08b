//go:build cuda

package dcae

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda"
)

// BenchmarkCUDADecode1024 times one DC-AE (f32c32, Sana's layout) decode
// of a 32×32 latent to a 1024² image with random weights on the CUDA
// backend. Only in cuda-tagged test binaries (scripts/gpu-check.sh).
func BenchmarkCUDADecode1024(b *testing.B) {
	be, err := cuda.New(cuda.Config{Logger: slog.New(slog.DiscardHandler)}) // keep the benchmark lines parseable
	if err != nil {
		b.Skipf("no usable CUDA device: %v", err)
	}
	defer be.Close()
	c := DefaultConfig()
	types := StrList{"ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"}
	c.EncoderBlockTypes, c.DecoderBlockTypes = types, types
	c.UpsampleBlockType, c.DownsampleBlockType = "interpolate", "conv"
	c.DecoderNormTypes, c.DecoderActFns = StrList{"rms_norm"}, StrList{"silu"}
	w, err := RandomWeights(c, 1, PartDecoder)
	if err != nil {
		b.Fatal(err)
	}
	m := New(c, w, be)
	z := kernels.MustNew(kernels.Float32, 1, c.LatentChannels, 32, 32)
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
	b.ResetTimer()
	for range b.N {
		decode()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/decode")
}
