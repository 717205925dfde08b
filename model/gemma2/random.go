package gemma2

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// RandomTensors returns deterministic random weights under Gemma2Model key
// names (no "model." prefix) with the golden case's init: embedding
// N(0, 0.15), norm weights N(0, 0.2) (used as 1 + w), matrices
// N(0, 1/√fan_in), biases N(0, 0.2). For tests and benchmarks.
func RandomTensors(c Config, seed uint64) (map[string]*kernels.Tensor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e33a2))
	out := map[string]*kernels.Tensor{}
	for _, s := range specs(c) {
		t := kernels.MustNew(kernels.Float32, s.shape...)
		d := t.F32()
		std := 0.2
		switch s.kind {
		case 'e':
			std = 0.15
		case 'w':
			std = 1 / math.Sqrt(float64(s.shape[1]))
		}
		for i := range d {
			d[i] = float32(std * rng.NormFloat64())
		}
		out[s.name] = t
	}
	return out, nil
}

// RandomWeights is RandomTensors bound as Weights.
func RandomWeights(c Config, seed uint64) (*Weights, error) {
	ts, err := RandomTensors(c, seed)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := weights.Write(&buf, ts, nil); err != nil {
		return nil, err
	}
	f, err := weights.OpenBytes("random", buf.Bytes())
	if err != nil {
		return nil, err
	}
	return Load(c, f, fmt.Sprintf("random(seed %d)", seed))
}

type spec struct {
	name  string
	shape []int
	kind  byte // 'e' embedding, 'w' matrix, 'b' bias, 'n' norm weight
}

func specs(c Config) []spec {
	H, I, Q, KV := c.HiddenSize, c.IntermediateSize, c.QDim(), c.KVDim()
	s := []spec{{"embed_tokens.weight", []int{c.VocabSize, H}, 'e'}, {"norm.weight", []int{H}, 'n'}}
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		for _, m := range []struct {
			name    string
			out, in int
		}{{"self_attn.q_proj", Q, H}, {"self_attn.k_proj", KV, H}, {"self_attn.v_proj", KV, H}, {"self_attn.o_proj", H, Q}} {
			s = append(s, spec{p + m.name + ".weight", []int{m.out, m.in}, 'w'})
			if c.AttentionBias {
				s = append(s, spec{p + m.name + ".bias", []int{m.out}, 'b'})
			}
		}
		s = append(s, spec{p + "mlp.gate_proj.weight", []int{I, H}, 'w'}, spec{p + "mlp.up_proj.weight", []int{I, H}, 'w'},
			spec{p + "mlp.down_proj.weight", []int{H, I}, 'w'})
		for _, n := range []string{"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"} {
			s = append(s, spec{p + n + ".weight", []int{H}, 'n'})
		}
	}
	return s
}
