package gemma2

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// RandomTensors returns deterministic random weights under Gemma2Model key
// names (no "model." prefix) with the golden case's init: embedding
// N(0, 0.15), norm weights N(0, 0.2) (used as 1 + w), matrices
// N(0, 1/√fan_in), biases N(0, 0.2). For tests and benchmarks.
func RandomTensors(c Config, seed uint64) (map[string]*kernels.Tensor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return nn.Random(specs(c), seed, 0x6e33a2), nil
}

// RandomWeights is RandomTensors bound as Weights.
func RandomWeights(c Config, seed uint64) (*Weights, error) {
	ts, err := RandomTensors(c, seed)
	if err != nil {
		return nil, err
	}
	f, err := nn.MemFile(ts, "random")
	if err != nil {
		return nil, err
	}
	return Load(c, f, fmt.Sprintf("random(seed %d)", seed))
}

type spec = nn.Spec

// specs: Gemma's norm weights are used as (1 + w), so they are drawn
// around 0 like biases.
func specs(c Config) []spec {
	H, I, Q, KV := c.HiddenSize, c.IntermediateSize, c.QDim(), c.KVDim()
	s := []spec{{Name: "embed_tokens.weight", Shape: []int{c.VocabSize, H}, Init: nn.Std, Std: 0.15}, nn.S("norm.weight", []int{H}, nn.Bias)}
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		for _, m := range []struct {
			name    string
			out, in int
		}{{"self_attn.q_proj", Q, H}, {"self_attn.k_proj", KV, H}, {"self_attn.v_proj", KV, H}, {"self_attn.o_proj", H, Q}} {
			s = append(s, nn.S(p+m.name+".weight", []int{m.out, m.in}, nn.Matrix))
			if c.AttentionBias {
				s = append(s, nn.S(p+m.name+".bias", []int{m.out}, nn.Bias))
			}
		}
		s = append(s, nn.S(p+"mlp.gate_proj.weight", []int{I, H}, nn.Matrix), nn.S(p+"mlp.up_proj.weight", []int{I, H}, nn.Matrix),
			nn.S(p+"mlp.down_proj.weight", []int{H, I}, nn.Matrix))
		for _, n := range []string{"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"} {
			s = append(s, nn.S(p+n+".weight", []int{H}, nn.Bias))
		}
	}
	return s
}
