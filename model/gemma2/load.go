package gemma2

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// linear is a Linear layer: w [out, in] in its stored dtype, b [out] F32 or
// nil (Gemma-2 has biases only with attention_bias).
type linear struct{ w, b *kernels.Tensor }

type layer struct {
	q, k, v, o linear
	gateUp     *kernels.Tensor // [2·intermediate, hidden]: gate_proj rows, then up_proj rows
	down       *kernels.Tensor // [hidden, intermediate]
	// RMSNorm weights [hidden] (F32), used as (1 + w).
	inNorm, postAttnNorm, preFFNorm, postFFNorm *kernels.Tensor
}

// Weights are the bound tensors of one Gemma2Model.
type Weights struct {
	embed  *kernels.Tensor // [vocab, hidden] in its stored dtype (1.2 GB as bf16 for gemma-2-2b)
	layers []layer
	norm   *kernels.Tensor // final norm [hidden] (F32)
}

// EmbedDType is the stored dtype of the embedding table, i.e. the dtype
// transformers would run the model in.
func (w *Weights) EmbedDType() kernels.DType { return w.embed.DType() }

// matrices lists the weights rounded to bf16 in kernels.PrecisionBF16:
// the attention and MLP matrices (MatMul weights) and the embedding table,
// which Embedding gathers from in any float dtype, as transformers holds
// it in a bf16 run (embedScale then rounds the normalizer to bf16 too, as
// transformers does). Norm weights and biases stay F32.
func (w *Weights) matrices() []**kernels.Tensor {
	ms := []**kernels.Tensor{&w.embed}
	for i := range w.layers {
		l := &w.layers[i]
		ms = append(ms, &l.q.w, &l.k.w, &l.v.w, &l.o.w, &l.gateUp, &l.down)
	}
	return ms
}

// Prefix returns "model." when src holds a Gemma2ForCausalLM state dict
// (keys under model.) and "" for a Gemma2Model one (Sana's text_encoder).
func Prefix(src weights.Source) string {
	if _, ok := src.Info("embed_tokens.weight"); ok {
		return ""
	}
	if _, ok := src.Info("model.embed_tokens.weight"); ok {
		return "model."
	}
	return ""
}

// binder wraps weights.Loader with the detected key prefix: matrices keep
// their stored dtype, norm weights and biases are widened to F32 once.
type binder struct {
	l      *weights.Loader
	prefix string
}

func (b binder) matrix(name string, shape ...int) *kernels.Tensor {
	return b.l.Get(b.prefix+name, shape...)
}

func (b binder) vector(name string, n int) *kernels.Tensor { return b.l.GetF32(b.prefix+name, n) }

func (b binder) linear(name string, out, in int, bias bool) linear {
	l := linear{w: b.matrix(name+".weight", out, in)}
	if bias {
		l.b = b.vector(name+".bias", out)
	}
	return l
}

// Load binds every tensor the config requires from src (keys with or
// without the "model." prefix) and reports all missing or mis-shaped
// tensors at once.
func Load(c Config, src weights.Source, origin string) (*Weights, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := binder{l: weights.NewLoader(src, origin), prefix: Prefix(src)}
	w := &Weights{
		embed: b.matrix("embed_tokens.weight", c.VocabSize, c.HiddenSize),
		norm:  b.vector("norm.weight", c.HiddenSize),
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		w.layers = append(w.layers, bindLayer(b, c, fmt.Sprintf("layers.%d.", i)))
	}
	if err := b.l.Err(); err != nil {
		return nil, err
	}
	for i := range w.layers {
		if w.layers[i].gateUp == nil {
			return nil, fmt.Errorf("weights %s: layers.%d: gate_proj and up_proj could not be joined", origin, i)
		}
	}
	return w, nil
}

func bindLayer(b binder, c Config, p string) layer {
	H, I := c.HiddenSize, c.IntermediateSize
	l := layer{
		q:            b.linear(p+"self_attn.q_proj", c.QDim(), H, c.AttentionBias),
		k:            b.linear(p+"self_attn.k_proj", c.KVDim(), H, c.AttentionBias),
		v:            b.linear(p+"self_attn.v_proj", c.KVDim(), H, c.AttentionBias),
		o:            b.linear(p+"self_attn.o_proj", H, c.QDim(), c.AttentionBias),
		down:         b.matrix(p+"mlp.down_proj.weight", H, I),
		inNorm:       b.vector(p+"input_layernorm.weight", H),
		postAttnNorm: b.vector(p+"post_attention_layernorm.weight", H),
		preFFNorm:    b.vector(p+"pre_feedforward_layernorm.weight", H),
		postFFNorm:   b.vector(p+"post_feedforward_layernorm.weight", H),
	}
	gate := b.matrix(p+"mlp.gate_proj.weight", I, H)
	up := b.matrix(p+"mlp.up_proj.weight", I, H)
	if gate != nil && up != nil {
		l.gateUp = joinRows(gate, up)
	}
	return l
}

// joinRows stacks two [n, k] host matrices into one [2n, k] so the MLP's
// gate and up projections run as a single MatMul (then GLU, gate first).
// Both keep their dtype when it agrees; mixed dtypes are widened to F32.
// It returns nil for tensors not on the host.
func joinRows(a, b *kernels.Tensor) *kernels.Tensor {
	if !a.OnHost() || !b.OnHost() {
		return nil
	}
	if a.DType() != b.DType() {
		var err error
		if a, err = a.ToF32(); err != nil {
			return nil
		}
		if b, err = b.ToF32(); err != nil {
			return nil
		}
	}
	out := kernels.MustNew(a.DType(), 2*a.Dim(0), a.Dim(1))
	if a.DType() == kernels.Float32 {
		copy(out.F32(), a.F32())
		copy(out.F32()[a.Len():], b.F32())
	} else {
		copy(out.U16(), a.U16())
		copy(out.U16()[a.Len():], b.U16())
	}
	return out
}
