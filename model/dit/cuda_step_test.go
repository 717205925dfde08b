//go:build cuda

package dit

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda"
)

// TestCUDAStepGraphMatchesForward: on the GPU, a denoising step replayed as
// a CUDA graph gives what Forward gives, step after step, for a Sana-600M
// block shape (two layers) in the production precision, with CFG batch,
// padded captions and PAG; scripts/gpu-check.sh runs it.
func TestCUDAStepGraphMatchesForward(t *testing.T) {
	be, err := cuda.New(cuda.Config{Logger: slog.New(slog.DiscardHandler), Precision: kernels.PrecisionBF16, Graphs: true})
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	defer be.Close()
	cfg := benchShapes[0].cfg
	cfg.NumLayers = 2
	w, err := RandomWeights(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, w, be)
	for _, pag := range []bool{false, true} {
		c := stepCase{cfg: cfg, pag: pag}
		B, h := 3, 16
		cd := stepCond(t, m, c, B, 40)
		st, err := m.NewStep(context.Background(), cd, B, h, h)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			x := randTensor(uint64(20+i), B, cfg.InChannels, h, h)
			ts := []float32{999 - 250*float32(i), 500, 3}
			want, err := m.Forward(context.Background(), x, ts, nil, cd)
			if err != nil {
				t.Fatal(err)
			}
			wh, err := kernels.Download(be, want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.Forward(context.Background(), x, ts, nil)
			if err != nil {
				t.Fatalf("pag %v step %d: %v", pag, i, err)
			}
			gh, err := kernels.Download(be, got)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(gh.F32(), wh.F32()); d > 0 {
				t.Logf("pag %v step %d: max |graph − eager| = %g", pag, i, d)
				if d > 1e-3 {
					t.Fatalf("pag %v step %d: graph replay differs from Forward by %g", pag, i, d)
				}
			}
		}
		if ok, why := st.Graphed(); !ok {
			t.Fatalf("pag %v: not replaying a graph: %v", pag, why)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
