// Package gemma2 implements transformers' Gemma2Model (the decoder stack
// without the LM head) as Sana uses it: the text encoder whose
// last_hidden_state, after the final norm, conditions the DiT.
package gemma2

import (
	"fmt"
	"io/fs"
	"math"

	"github.com/sanafarm/sanafarm/model/weights"
)

// ModelType is the transformers model_type this package implements.
const ModelType = "gemma2"

// Layer types of Gemma2Config.layer_types.
const (
	SlidingAttention = "sliding_attention"
	FullAttention    = "full_attention"
)

// RopeParameters is transformers ≥ 5's rope_parameters object.
type RopeParameters struct {
	RopeTheta *float64 `json:"rope_theta"`
	RopeType  string   `json:"rope_type"`
}

// Config is a transformers Gemma2Config (text_encoder/config.json). Keys
// absent from the file take Gemma2Config's defaults (those of
// gemma-2-2b); pointer fields distinguish an explicit null.
type Config struct {
	ModelType             string          `json:"model_type"`
	VocabSize             int             `json:"vocab_size"`
	HiddenSize            int             `json:"hidden_size"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      int             `json:"num_key_value_heads"`
	HeadDim               int             `json:"head_dim"`
	HiddenActivation      *string         `json:"hidden_activation"`
	RMSNormEps            float64         `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`      // transformers < 5
	RopeParameters        *RopeParameters `json:"rope_parameters"` // transformers ≥ 5
	RopeScaling           map[string]any  `json:"rope_scaling"`
	AttentionBias         bool            `json:"attention_bias"`
	QueryPreAttnScalar    float64         `json:"query_pre_attn_scalar"`
	AttnLogitSoftcapping  *float64        `json:"attn_logit_softcapping"`
	FinalLogitSoftcapping *float64        `json:"final_logit_softcapping"` // LM head only; unused here
	SlidingWindow         *int            `json:"sliding_window"`
	LayerTypes            []string        `json:"layer_types"`
	UseBidirectional      *bool           `json:"use_bidirectional_attention"`
	PadTokenID            *int            `json:"pad_token_id"`
	BOSTokenID            *int            `json:"bos_token_id"`
	EOSTokenID            any             `json:"eos_token_id"` // an int or a list of ints
}

// DefaultConfig returns Gemma2Config's defaults (google/gemma-2-2b).
func DefaultConfig() Config {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	act := "gelu_pytorch_tanh"
	return Config{
		ModelType: ModelType, VocabSize: 256000, HiddenSize: 2304, IntermediateSize: 9216,
		NumHiddenLayers: 26, NumAttentionHeads: 8, NumKeyValueHeads: 4, HeadDim: 256,
		HiddenActivation: &act, RMSNormEps: 1e-6, QueryPreAttnScalar: 256,
		AttnLogitSoftcapping: f(50), FinalLogitSoftcapping: f(30), SlidingWindow: i(4096),
		PadTokenID: i(0), BOSTokenID: i(2), EOSTokenID: 1,
	}
}

// ReadConfig reads and validates a Gemma-2 config.json: the file is
// decoded over DefaultConfig, so absent keys keep transformers' defaults.
func ReadConfig(fsys fs.FS, name string) (Config, error) {
	c := DefaultConfig()
	if err := weights.ReadConfig(fsys, name, &c); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// QDim is the query width heads·head_dim.
func (c Config) QDim() int { return c.NumAttentionHeads * c.HeadDim }

// KVDim is the key/value width kv_heads·head_dim.
func (c Config) KVDim() int { return c.NumKeyValueHeads * c.HeadDim }

// Theta is the RoPE base (rope_parameters.rope_theta, else rope_theta,
// else 10000).
func (c Config) Theta() float64 {
	switch {
	case c.RopeParameters != nil && c.RopeParameters.RopeTheta != nil:
		return *c.RopeParameters.RopeTheta
	case c.RopeTheta != nil:
		return *c.RopeTheta
	}
	return 10000
}

// Sliding reports whether layer i uses the sliding window: layer_types
// when present, else Gemma2Config's default (even layers slide).
func (c Config) Sliding(i int) bool {
	if c.LayerTypes != nil {
		return c.LayerTypes[i] == SlidingAttention
	}
	return i%2 == 0
}

// Window is the sliding window size for layer i (0: global attention).
func (c Config) Window(i int) int {
	if c.SlidingWindow == nil || !c.Sliding(i) {
		return 0
	}
	return *c.SlidingWindow
}

// SoftCap is attn_logit_softcapping (0 when null).
func (c Config) SoftCap() float32 {
	if c.AttnLogitSoftcapping == nil {
		return 0
	}
	return float32(*c.AttnLogitSoftcapping)
}

// AttnScale is the score scale query_pre_attn_scalar^−0.5, as transformers
// computes it (a Python float, used in float32).
func (c Config) AttnScale() float32 { return float32(math.Pow(c.QueryPreAttnScalar, -0.5)) }

// Validate rejects configs this implementation cannot run, naming the key
// and its value.
func (c Config) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("gemma2 config: %s = %v (want %s)", key, v, want)
	}
	// Sizes first: they drive loops and products below and in Load
	// (weights.MaxLayers and the rest say why they are bounded).
	sizes := []struct {
		key    string
		v, max int
		zeroOK bool
	}{{"vocab_size", c.VocabSize, weights.MaxVocab, false}, {"hidden_size", c.HiddenSize, weights.MaxWidth, false},
		{"intermediate_size", c.IntermediateSize, weights.MaxWidth, false},
		{"num_attention_heads", c.NumAttentionHeads, weights.MaxHeads, false},
		{"num_key_value_heads", c.NumKeyValueHeads, weights.MaxHeads, false},
		{"head_dim", c.HeadDim, weights.MaxHeadDim, false}, {"num_hidden_layers", c.NumHiddenLayers, weights.MaxLayers, true}}
	for _, p := range sizes {
		switch {
		case p.zeroOK && p.v < 0:
			return bad(p.key, p.v, "≥ 0")
		case !p.zeroOK && p.v <= 0:
			return bad(p.key, p.v, "> 0")
		case p.v > p.max:
			return bad(p.key, p.v, fmt.Sprintf("at most %d", p.max))
		}
	}
	switch {
	case c.ModelType != ModelType:
		return bad("model_type", c.ModelType, `"gemma2"`)
	case c.NumAttentionHeads%c.NumKeyValueHeads != 0:
		return bad("num_key_value_heads", c.NumKeyValueHeads, fmt.Sprintf("a divisor of num_attention_heads %d", c.NumAttentionHeads))
	case c.HeadDim%2 != 0:
		return bad("head_dim", c.HeadDim, "even (rotary halves)")
	case c.HiddenActivation == nil || *c.HiddenActivation != "gelu_pytorch_tanh":
		return bad("hidden_activation", deref(c.HiddenActivation), `"gelu_pytorch_tanh"`)
	case !(c.RMSNormEps > 0):
		return bad("rms_norm_eps", c.RMSNormEps, "> 0")
	case !(c.QueryPreAttnScalar > 0):
		return bad("query_pre_attn_scalar", c.QueryPreAttnScalar, "> 0")
	case c.AttnLogitSoftcapping != nil && !(*c.AttnLogitSoftcapping >= 0):
		return bad("attn_logit_softcapping", *c.AttnLogitSoftcapping, "≥ 0 or null")
	case !(c.Theta() > 0):
		return bad("rope_theta", c.Theta(), "> 0")
	case c.RopeParameters != nil && c.RopeParameters.RopeType != "" && c.RopeParameters.RopeType != "default":
		return bad("rope_parameters.rope_type", c.RopeParameters.RopeType, `"default"`)
	case len(c.RopeScaling) > 0:
		return bad("rope_scaling", c.RopeScaling, "null (only default RoPE is implemented)")
	case c.SlidingWindow != nil && *c.SlidingWindow < 0:
		return bad("sliding_window", *c.SlidingWindow, "≥ 0 or null")
	case c.UseBidirectional != nil && *c.UseBidirectional:
		return bad("use_bidirectional_attention", true, "null or false (causal decoder)")
	}
	return c.validateLayerTypes()
}

func (c Config) validateLayerTypes() error {
	if c.LayerTypes == nil {
		return nil
	}
	if len(c.LayerTypes) != c.NumHiddenLayers {
		return fmt.Errorf("gemma2 config: layer_types has %d entries (want num_hidden_layers = %d)", len(c.LayerTypes), c.NumHiddenLayers)
	}
	for i, t := range c.LayerTypes {
		if t != SlidingAttention && t != FullAttention {
			return fmt.Errorf("gemma2 config: layer_types[%d] = %q (want %q or %q)", i, t, SlidingAttention, FullAttention)
		}
	}
	return nil
}

func deref(s *string) any {
	if s == nil {
		return "null"
	}
	return *s
}
