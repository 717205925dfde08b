package dit

import (
	"context"
	"io/fs"
	"math"
	"os"
	"path"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/weights"
)

// goldenCases are the public transformer cases with the README tolerance.
var goldenCases = []struct {
	dir, weights, output string
	tol                  float64
}{
	{"sana_transformer", "model.safetensors", "sample", 1e-4},
	{"sana_transformer", "model.bf16.safetensors", "sample_bf16_weights_f32_compute", 5e-2},
	{"sana_transformer_posembed", "model.safetensors", "sample", 1e-4},
	{"sana_transformer_posembed_resized", "model.safetensors", "sample", 1e-4},
	{"sana_transformer_sprint", "model.safetensors", "sample", 1e-4},
	{"sana_transformer_v15", "model.safetensors", "sample", 1e-4},
}

func open(t *testing.T, fsys fs.FS, name string) *weights.File {
	t.Helper()
	f, err := weights.Open(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func tensor(t *testing.T, f *weights.File, name string) *kernels.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestGolden(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.dir+"/"+gc.weights, func(t *testing.T) {
			fsys := os.DirFS(path.Join("../../testdata/golden", gc.dir))
			cfg, err := ReadConfig(fsys, "config.json")
			if err != nil {
				t.Fatal(err)
			}
			w, err := Load(cfg, open(t, fsys, gc.weights), gc.dir)
			if err != nil {
				t.Fatal(err)
			}
			in := open(t, fsys, "inputs.safetensors")
			out := open(t, fsys, "outputs.safetensors")
			m := New(cfg, w, cpu.New(cpu.Config{}))
			got := runGolden(t, m, in)
			want, _, err := out.Float64s(gc.output)
			if err != nil {
				t.Fatal(err)
			}
			worst, at := 0.0, 0
			for i, v := range want {
				if d := math.Abs(got.At(i) - v); d > worst || math.IsNaN(d) {
					worst, at = d, i
				}
			}
			t.Logf("max_abs=%.3g at %d (tol %g)", worst, at, gc.tol)
			if !(worst <= gc.tol) {
				t.Errorf("max abs diff %.3g at %d (got %v want %v) > tol %g", worst, at, got.At(at), want[at], gc.tol)
			}
		})
	}
}

func runGolden(t *testing.T, m *Model, in *weights.File) *kernels.Tensor {
	t.Helper()
	ctx := context.Background()
	cd, err := m.PrepareCond(ctx, tensor(t, in, "encoder_hidden_states"), tensor(t, in, "encoder_attention_mask"))
	if err != nil {
		t.Fatal(err)
	}
	ts := tensor(t, in, "timestep").F32()
	var g []float32
	if _, ok := in.Info("guidance"); ok {
		g = tensor(t, in, "guidance").F32()
	}
	got, err := m.Forward(ctx, tensor(t, in, "hidden_states"), ts, g, cd)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPosEmbedCacheFollowsTheGrid runs a PE model on another grid first:
// the cached embedding must not leak into the golden 8×8 run.
func TestPosEmbedCacheFollowsTheGrid(t *testing.T) {
	fsys := os.DirFS(path.Join("../../testdata/golden", "sana_transformer_posembed"))
	cfg, err := ReadConfig(fsys, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := Load(cfg, open(t, fsys, "model.safetensors"), "posembed")
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, w, cpu.New(cpu.Config{}))
	in := open(t, fsys, "inputs.safetensors")
	cd, err := m.PrepareCond(context.Background(), tensor(t, in, "encoder_hidden_states"), tensor(t, in, "encoder_attention_mask"))
	if err != nil {
		t.Fatal(err)
	}
	other := kernels.MustNew(kernels.Float32, 2, cfg.InChannels, 6, 10)
	if _, err := m.Forward(context.Background(), other, []float32{999, 437.5}, nil, cd); err != nil {
		t.Fatal(err)
	}
	got := runGolden(t, m, in)
	want, _, _ := open(t, fsys, "outputs.safetensors").Float64s("sample")
	for i, v := range want {
		if d := math.Abs(got.At(i) - v); !(d <= 1e-4) {
			t.Fatalf("element %d differs by %g after a 6×10 run", i, d)
		}
	}
}
