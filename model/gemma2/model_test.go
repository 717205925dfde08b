package gemma2

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// smallConfig is a tiny Gemma-2 with GQA, a sliding window shorter than the
// test sequences and the default (even layers slide) layer types.
func smallConfig() Config {
	c := DefaultConfig()
	c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = 50, 32, 64, 3
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.QueryPreAttnScalar = 4, 2, 8, 8
	w := 3
	c.SlidingWindow = &w
	return c
}

func newSmall(t testing.TB, c Config, seed uint64) *Model {
	t.Helper()
	w, err := RandomWeights(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	return New(c, w, cpu.New(cpu.Config{}))
}

func ids64(t testing.TB, rows ...[]int64) *kernels.Tensor {
	t.Helper()
	x, err := kernels.FromI64(slices.Concat(rows...), len(rows), len(rows[0]))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func encode(t testing.TB, m *Model, ids, mask *kernels.Tensor) *kernels.Tensor {
	t.Helper()
	out, err := m.Encode(context.Background(), ids, mask)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

const transformers4Config = `{"model_type": "gemma2", "vocab_size": 50, "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
 "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 500.0,
 "attn_logit_softcapping": null, "sliding_window": 4096, "query_pre_attn_scalar": 8, "eos_token_id": [1, 107]}`

func TestReadConfigVariants(t *testing.T) {
	fsys := fstest.MapFS{"config.json": {Data: []byte(transformers4Config)}}
	c, err := ReadConfig(fsys, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Theta() != 500 || c.SoftCap() != 0 || c.RMSNormEps != 1e-6 || c.AttnScale() != float32(1/math.Sqrt(8)) {
		t.Errorf("theta %v softcap %v eps %v scale %v", c.Theta(), c.SoftCap(), c.RMSNormEps, c.AttnScale())
	}
	for i, want := range []int{4096, 0, 4096} { // no layer_types: even layers slide
		if c.Window(i) != want {
			t.Errorf("layer %d window %d, want %d", i, c.Window(i), want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.ModelType = "llama" }, "model_type = llama"},
		{func(c *Config) { c.HiddenSize = 0 }, "hidden_size = 0"},
		{func(c *Config) { c.NumKeyValueHeads = 3 }, "num_key_value_heads = 3"},
		{func(c *Config) { c.HeadDim = 7 }, "head_dim = 7"},
		{func(c *Config) { s := "gelu"; c.HiddenActivation = &s }, "hidden_activation = gelu"},
		{func(c *Config) { c.HiddenActivation = nil }, "hidden_activation = null"},
		{func(c *Config) { c.RMSNormEps = math.NaN() }, "rms_norm_eps = NaN"},
		{func(c *Config) { c.RopeParameters = &RopeParameters{RopeType: "linear"} }, "rope_type = linear"},
		{func(c *Config) { c.RopeScaling = map[string]any{"factor": 2.0} }, "rope_scaling = map[factor:2]"},
		{func(c *Config) { c.LayerTypes = []string{"full_attention"} }, "layer_types has 1 entries"},
		{func(c *Config) { c.LayerTypes = []string{"full_attention", "chunked", "full_attention"} }, `layer_types[1] = "chunked"`},
		{func(c *Config) { b := true; c.UseBidirectional = &b }, "use_bidirectional_attention = true"},
		{func(c *Config) { w := -1; c.SlidingWindow = &w }, "sliding_window = -1"},
		// Bounded before anything multiplies or loops over them.
		{func(c *Config) { c.NumHiddenLayers = 1 << 40 }, "num_hidden_layers = 1099511627776 (want at most 1024)"},
		{func(c *Config) { c.NumHiddenLayers = -1 }, "num_hidden_layers = -1"},
		{func(c *Config) { c.VocabSize = 1 << 23 }, "vocab_size = 8388608"},
		{func(c *Config) { c.IntermediateSize = 1 << 18 }, "intermediate_size = 262144"},
		{func(c *Config) { c.NumAttentionHeads, c.NumKeyValueHeads = 1<<62, 1<<61 }, "num_attention_heads = 4611686018427387904"},
		{func(c *Config) { c.HeadDim = 1 << 13 }, "head_dim = 8192"},
	}
	for _, tc := range cases {
		c := smallConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error containing %q, got %v", tc.want, err)
		}
	}
}

// TestModelPrefix loads the same tensors under Gemma2ForCausalLM names
// ("model." prefix, plus an lm_head) and expects identical outputs.
func TestModelPrefix(t *testing.T) {
	c := smallConfig()
	ts, err := RandomTensors(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	pre := map[string]*kernels.Tensor{"lm_head.weight": ts["embed_tokens.weight"]}
	for n, x := range ts {
		pre["model."+n] = x
	}
	ids := ids64(t, []int64{2, 5, 9, 11, 49})
	var outs [][]float32
	for _, m := range []map[string]*kernels.Tensor{ts, pre} {
		f := memFile(t, m)
		if p := Prefix(f); (p == "model.") != (len(m) == len(pre)) {
			t.Fatalf("prefix %q detected for %d tensors", p, len(m))
		}
		w, err := Load(c, f, "mem")
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, encode(t, New(c, w, cpu.New(cpu.Config{})), ids, nil).F32())
	}
	if d := maxDiff(outs[0], outs[1]); d != 0 {
		t.Errorf("prefixed weights differ by %g", d)
	}
}

func TestLoadListsEveryProblem(t *testing.T) {
	c := smallConfig()
	ts, err := RandomTensors(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	delete(ts, "norm.weight")
	delete(ts, "layers.1.mlp.up_proj.weight")
	delete(ts, "layers.2.self_attn.k_proj.weight")
	ts["layers.0.self_attn.q_proj.weight"] = kernels.MustNew(kernels.Float32, 31, 32)
	_, err = Load(c, memFile(t, ts), "broken")
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"3 missing tensors", "norm.weight", "layers.1.mlp.up_proj.weight",
		"layers.2.self_attn.k_proj.weight", "layers.0.self_attn.q_proj.weight has shape [31 32], want [32 32]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
}

func TestBadInputs(t *testing.T) {
	m := newSmall(t, smallConfig(), 1)
	good := ids64(t, []int64{2, 3, 4})
	f32ids, _ := kernels.FromF32([]float32{2, 3, 4}, 1, 3)
	i32mask, _ := kernels.FromI32([]int32{1, 1, 2}, 1, 3)
	cases := []struct {
		ids, mask *kernels.Tensor
		want      string
	}{
		{ids64(t, []int64{2, 50, 4}), nil, "element 1 (row 0, position 1) = 50 outside the vocabulary [0, 50)"},
		{ids64(t, []int64{2, 3}, []int64{-1, 4}), nil, "= -1 outside the vocabulary"},
		{f32ids, nil, "want a host Int64 or Int32 [B, T]"},
		{good.MustReshape(3), nil, "want a host Int64 or Int32 [B, T]"},
		{nil, nil, "want a host Int64 or Int32 [B, T]"},
		{good, ids64(t, []int64{1, 1}), "shaped like input ids"},
		{good, i32mask, "mask element 2 = 2 (want 0 or 1)"},
	}
	for _, tc := range cases {
		_, err := m.Encode(context.Background(), tc.ids, tc.mask)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error containing %q, got %v", tc.want, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Encode(ctx, good, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestMaskAndIDTypes: no mask, an all-ones mask of any dtype and Int32 ids
// give the same result.
func TestMaskAndIDTypes(t *testing.T) {
	m := newSmall(t, smallConfig(), 2)
	ids := ids64(t, []int64{2, 7, 8, 9, 10, 11})
	ref := encode(t, m, ids, nil).F32()
	i32, _ := kernels.FromI32([]int32{2, 7, 8, 9, 10, 11}, 1, 6)
	ones, _ := kernels.FromF32([]float32{1, 1, 1, 1, 1, 1}, 1, 6)
	for _, got := range [][]float32{
		encode(t, m, ids, ids64(t, []int64{1, 1, 1, 1, 1, 1})).F32(),
		encode(t, m, ids, ones).F32(),
		encode(t, m, i32, nil).F32(),
	} {
		if d := maxDiff(ref, got); d != 0 {
			t.Errorf("differs by %g", d)
		}
	}
}

// TestPaddingInvariance: a right-padded row gives, at its tokens, what the
// row alone gives, and a shorter row does not disturb a longer one.
func TestPaddingInvariance(t *testing.T) {
	m := newSmall(t, smallConfig(), 3)
	long := []int64{2, 13, 17, 19, 23, 29, 31, 37}
	short := []int64{2, 41, 43, 47, 0, 0, 0, 0}
	got := encode(t, m, ids64(t, long, short), ids64(t, []int64{1, 1, 1, 1, 1, 1, 1, 1}, []int64{1, 1, 1, 1, 0, 0, 0, 0})).F32()
	aloneLong := encode(t, m, ids64(t, long), nil).F32()
	aloneShort := encode(t, m, ids64(t, short[:4]), nil).F32()
	D := m.Config().HiddenSize
	if d := maxDiff(got[:8*D], aloneLong); d > 1e-5 {
		t.Errorf("long row differs by %g", d)
	}
	if d := maxDiff(got[8*D:12*D], aloneShort); d > 1e-5 {
		t.Errorf("short row's tokens differ by %g", d)
	}
	for _, v := range got {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite output (padded positions must stay finite)")
		}
	}
}

func TestRandomDeterministic(t *testing.T) {
	c := smallConfig()
	c.AttentionBias = true
	a, _ := RandomTensors(c, 5)
	b, _ := RandomTensors(c, 5)
	o, _ := RandomTensors(c, 6)
	for n, x := range a {
		if maxDiff(x.F32(), b[n].F32()) != 0 {
			t.Errorf("%s differs for the same seed", n)
		}
		if maxDiff(x.F32(), o[n].F32()) == 0 {
			t.Errorf("%s equal for different seeds", n)
		}
	}
	if _, ok := a["layers.0.self_attn.o_proj.bias"]; !ok {
		t.Error("attention_bias: no o_proj bias")
	}
	m := newSmall(t, c, 5)
	ids := ids64(t, []int64{2, 3, 4, 5})
	if d := maxDiff(encode(t, m, ids, nil).F32(), encode(t, m, ids, nil).F32()); d != 0 {
		t.Errorf("repeated encode (scratch reuse) differs by %g", d)
	}
}

// BenchmarkEncodeSmall times Encode of a 2×128 batch on a 4-layer,
// 256-wide Gemma-2.
func BenchmarkEncodeSmall(b *testing.B) {
	c := DefaultConfig()
	c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = 1000, 256, 1024, 4
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.QueryPreAttnScalar = 4, 2, 64, 64
	m := newSmall(b, c, 1)
	ids := kernels.MustNew(kernels.Int64, 2, 128)
	for i := range ids.I64() {
		ids.I64()[i] = int64(2 + i*7%997)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Encode(context.Background(), ids, nil); err != nil {
			b.Fatal(err)
		}
	}
}
