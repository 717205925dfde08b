package gemma2

import (
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// TestBF16PrecisionRoundsTheMatrices: in kernels.PrecisionBF16 the
// attention and MLP matrices and the embedding table are BF16 after the
// first Encode, norms and biases stay F32; in float32 nothing changes
// dtype; the hidden states stay close to the float32 ones.
func TestBF16PrecisionRoundsTheMatrices(t *testing.T) {
	c := smallConfig()
	c.AttentionBias = true
	ids := ids64(t, []int64{2, 7, 11, 3, 49, 0, 5}, []int64{1, 2, 3, 4, 5, 6, 7})
	run := func(be kernels.Backend) (*Weights, *kernels.Tensor) {
		w, err := RandomWeights(c, 9)
		if err != nil {
			t.Fatal(err)
		}
		return w, encode(t, New(c, w, be), ids, nil)
	}
	w32, ref := run(cpu.New(cpu.Config{}))
	all := nn.DTypes(w32)
	if len(all) != 1 || all[kernels.Float32] == 0 {
		t.Errorf("float32 run: dtypes %v, want all F32", all)
	}
	w16, out := run(cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}))
	n := len(w16.matrices())
	if got := nn.DTypes(w16); got[kernels.BFloat16] != n || got[kernels.Float32] != all[kernels.Float32]-n {
		t.Errorf("bf16 run: dtypes %v, want %d BF16 and %d F32", got, n, all[kernels.Float32]-n)
	}
	l := w16.layers[1]
	for name, x := range map[string]struct {
		t  *kernels.Tensor
		dt kernels.DType
	}{
		"embed_tokens": {w16.embed, kernels.BFloat16}, "q_proj.weight": {l.q.w, kernels.BFloat16},
		"o_proj.weight": {l.o.w, kernels.BFloat16}, "gate|up": {l.gateUp, kernels.BFloat16}, "down_proj": {l.down, kernels.BFloat16},
		"q_proj.bias": {l.q.b, kernels.Float32}, "input_layernorm": {l.inNorm, kernels.Float32}, "norm": {w16.norm, kernels.Float32},
	} {
		if x.t.DType() != x.dt {
			t.Errorf("%s is %v, want %v", name, x.t.DType(), x.dt)
		}
	}
	d := nn.MaxRelDiff(out, ref)
	t.Logf("bf16 weights: relative max error %.3g", d)
	if d > 2e-2 || d == 0 {
		t.Errorf("bf16 weights: relative max error %.3g, want in (0, 2e-2]", d)
	}
}
