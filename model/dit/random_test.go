package dit

import (
	"context"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/weights"
)

func tinyConfig(qk bool, guidance bool) Config {
	c := Config{ClassName: ClassName, InChannels: 8, NumAttentionHeads: 2, AttentionHeadDim: 16, NumLayers: 2,
		NumCrossAttnHeads: 4, CrossAttnHeadDim: 8, CrossAttentionDim: 32, CaptionChannels: 48, MLPRatio: 2.5,
		NormEps: 1e-6, SampleSize: 8, PatchSize: 1, GuidanceEmbeds: guidance}
	if qk {
		s := "rms_norm_across_heads"
		c.QKNorm = &s
	}
	return c
}

// TestRandomWeightsCoverEveryTensor: random weights bind for every variant
// and, compared with a golden checkpoint, have exactly its names/shapes.
func TestRandomWeightsCoverEveryTensor(t *testing.T) {
	for _, v := range []struct{ qk, g bool }{{false, false}, {true, false}, {true, true}} {
		ts, err := RandomTensors(tinyConfig(v.qk, v.g), 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RandomWeights(tinyConfig(v.qk, v.g), 1); err != nil {
			t.Fatalf("%+v: %v", v, err)
		}
		if v.qk && v.g { // the sprint golden checkpoint has the same config
			f, err := weights.Open(osDirFS("sana_transformer_sprint"), "model.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Header.Tensors) != len(ts) {
				t.Errorf("random has %d tensors, golden %d", len(ts), len(f.Header.Tensors))
			}
			for n, in := range f.Header.Tensors {
				if r, ok := ts[n]; !ok || !kernels.SameShape(r, kernels.MustNew(kernels.Float32, in.Shape...)) {
					t.Errorf("tensor %s %v missing or mis-shaped in random weights", n, in.Shape)
				}
			}
			f.Close()
		}
	}
}

func TestLoadErrorsListEverything(t *testing.T) {
	c := tinyConfig(false, false)
	ts, _ := RandomTensors(c, 1)
	delete(ts, "caption_norm.weight")
	delete(ts, "transformer_blocks.1.ff.conv_point.weight")
	ts["proj_out.weight"] = kernels.MustNew(kernels.Float32, 3, 32)
	f := memFile(t, ts)
	_, err := Load(c, f, "broken")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"2 missing tensors", "caption_norm.weight", "transformer_blocks.1.ff.conv_point.weight",
		"proj_out.weight has shape [3 32], want [8 32]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestForwardErrors(t *testing.T) {
	c := tinyConfig(false, true)
	w, err := RandomWeights(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	m := New(c, w, cpu.New(cpu.Config{}))
	ctx := context.Background()
	cd, err := m.PrepareCond(ctx, kernels.MustNew(kernels.Float32, 1, 5, 48), kernels.MustNew(kernels.Int64, 1, 5))
	if err != nil {
		t.Fatal(err)
	}
	x := kernels.MustNew(kernels.Float32, 1, 8, 3, 5)
	if _, err := m.Forward(ctx, x, []float32{500}, nil, cd); err == nil || !strings.Contains(err.Error(), "guidance") {
		t.Errorf("missing guidance: %v", err)
	}
	if _, err := m.Forward(ctx, kernels.MustNew(kernels.Float32, 1, 4, 3, 5), []float32{1}, []float32{1}, cd); err == nil {
		t.Error("wrong channel count accepted")
	}
	if _, err := m.PrepareCond(ctx, kernels.MustNew(kernels.Float32, 1, 5, 47), nil); err == nil {
		t.Error("wrong caption width accepted")
	}
	out, err := m.Forward(ctx, x, []float32{500}, []float32{0.45}, cd)
	if err != nil || out.Dim(2) != 3 || out.Dim(3) != 5 {
		t.Errorf("forward: %v %v", out, err)
	}
}
