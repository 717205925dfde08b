//go:build cuda

package gemma2

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda"
)

// BenchmarkCUDAEncode times the gemma-2-2b text encoder (26 layers at its
// real widths, random weights) over 300-token prompts, half of each row
// padding, per precision and prompts per batch. One random layer is shared
// by all 26 and the vocabulary is cut to 1000 rows: drawing 2.6B random
// values on the host would take minutes of the lent GPU, and neither
// changes the work of a forward (the embedding is a gather). Only in
// cuda-tagged test binaries (scripts/perf/perf.sh). Sub-benchmark names:
// <precision>/prompts=<n>; metric ms/encode.
func BenchmarkCUDAEncode(b *testing.B) {
	cfg := DefaultConfig()
	cfg.VocabSize = 1000
	for _, prec := range []kernels.Precision{kernels.PrecisionBF16, kernels.PrecisionF32} {
		be, err := cuda.New(cuda.Config{Logger: slog.New(slog.DiscardHandler), Precision: prec})
		if err != nil {
			b.Skipf("no usable CUDA device: %v", err)
		}
		one := cfg
		one.NumHiddenLayers = 1
		w, err := RandomWeights(one, 1)
		if err != nil {
			b.Fatal(err)
		}
		for len(w.layers) < cfg.NumHiddenLayers {
			w.layers = append(w.layers, w.layers[0])
		}
		m := New(cfg, w, be)
		for _, n := range []int{2, 4, 8, 16, 32} {
			if prec == kernels.PrecisionF32 && n > 2 { // f32: the before-figure only
				continue
			}
			b.Run(fmt.Sprintf("%v/prompts=%d", prec, n), func(b *testing.B) { benchEncode(b, m, be, n) })
		}
		_ = be.Close()
	}
}

func benchEncode(b *testing.B, m *Model, be *cuda.Backend, n int) {
	const T = 300
	ids, mask := kernels.MustNew(kernels.Int64, n, T), kernels.MustNew(kernels.Int64, n, T)
	for i := range n * T {
		ids.I64()[i] = int64(2 + (i*7919)%997)
		if i%T < T/2 {
			mask.I64()[i] = 1
		}
	}
	encode := func() {
		if _, err := m.Encode(context.Background(), ids, mask); err != nil {
			b.Fatal(err)
		}
		if err := be.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	encode() // warm-up
	b.ResetTimer()
	for range b.N {
		encode()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/encode")
}
