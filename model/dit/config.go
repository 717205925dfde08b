// Package dit implements diffusers' SanaTransformer2DModel (Sana 1.0, 1.5
// with qk-norm, Sprint with a guidance embedding, 2K/4K with sin-cos
// positional embeddings) on a kernels.Backend.
package dit

import (
	"fmt"
	"io/fs"

	"github.com/sanafarm/sanafarm/model/weights"
)

// ClassName is the diffusers class this package implements.
const ClassName = "SanaTransformer2DModel"

// Config is a diffusers transformer/config.json. Keys that older configs
// omit default to null/false/1.0.
type Config struct {
	ClassName             string         `json:"_class_name"`
	InChannels            int            `json:"in_channels"`
	OutChannels           *int           `json:"out_channels"`
	NumAttentionHeads     int            `json:"num_attention_heads"`
	AttentionHeadDim      int            `json:"attention_head_dim"`
	NumLayers             int            `json:"num_layers"`
	NumCrossAttnHeads     int            `json:"num_cross_attention_heads"`
	CrossAttnHeadDim      int            `json:"cross_attention_head_dim"`
	CrossAttentionDim     int            `json:"cross_attention_dim"`
	CaptionChannels       int            `json:"caption_channels"`
	MLPRatio              float64        `json:"mlp_ratio"`
	AttentionBias         bool           `json:"attention_bias"`
	NormElementwiseAffine bool           `json:"norm_elementwise_affine"`
	NormEps               float64        `json:"norm_eps"`
	SampleSize            int            `json:"sample_size"`
	PatchSize             int            `json:"patch_size"`
	InterpolationScale    *float64       `json:"interpolation_scale"`
	QKNorm                *string        `json:"qk_norm"`
	GuidanceEmbeds        bool           `json:"guidance_embeds"`
	GuidanceEmbedsScale   *weights.Float `json:"guidance_embeds_scale"`
	TimestepScale         *weights.Float `json:"timestep_scale"`
	Dropout               float64        `json:"dropout"`
}

// ReadConfig reads and validates a transformer config.json.
func ReadConfig(fsys fs.FS, name string) (Config, error) {
	var c Config
	if err := weights.ReadConfig(fsys, name, &c); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// Dim is the model width D = heads·head_dim.
func (c Config) Dim() int { return c.NumAttentionHeads * c.AttentionHeadDim }

// CrossDim is the cross-attention inner width Hc·dc.
func (c Config) CrossDim() int { return c.NumCrossAttnHeads * c.CrossAttnHeadDim }

// Hidden is the Mix-FFN hidden width int(mlp_ratio·D).
func (c Config) Hidden() int { return int(c.MLPRatio * float64(c.Dim())) }

// Out is the number of output channels (defaults to in_channels).
func (c Config) Out() int {
	if c.OutChannels != nil {
		return *c.OutChannels
	}
	return c.InChannels
}

// HasQKNorm reports the SANA 1.5 / Sprint q/k RMSNorm.
func (c Config) HasQKNorm() bool { return c.QKNorm != nil }

// TimeScale is the timestep_scale multiplier (1 when absent).
func (c Config) TimeScale() float32 {
	if c.TimestepScale == nil {
		return 1
	}
	return float32(*c.TimestepScale)
}

// GuidanceScale is guidance_embeds_scale (0.1 when absent).
func (c Config) GuidanceScale() float32 {
	if c.GuidanceEmbedsScale == nil {
		return 0.1
	}
	return float32(*c.GuidanceEmbedsScale)
}

// Validate rejects configs this implementation cannot run, naming the key.
func (c Config) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("transformer config: %s = %v (want %s)", key, v, want)
	}
	if err := c.validateSizes(); err != nil {
		return err
	}
	switch {
	case c.ClassName != "" && c.ClassName != ClassName:
		return bad("_class_name", c.ClassName, ClassName)
	case c.PatchSize != 1:
		return bad("patch_size", c.PatchSize, "1, as in every released Sana checkpoint")
	case c.InChannels <= 0:
		return bad("in_channels", c.InChannels, "> 0")
	case c.Out() <= 0:
		return bad("out_channels", c.Out(), "> 0")
	case c.NumAttentionHeads <= 0 || c.AttentionHeadDim <= 0:
		return bad("num_attention_heads×attention_head_dim", fmt.Sprint(c.NumAttentionHeads, "×", c.AttentionHeadDim), "positive")
	case c.NumCrossAttnHeads <= 0 || c.CrossAttnHeadDim <= 0:
		return bad("num_cross_attention_heads×cross_attention_head_dim", fmt.Sprint(c.NumCrossAttnHeads, "×", c.CrossAttnHeadDim), "positive")
	case c.CrossDim() != c.Dim() || c.CrossAttentionDim != c.Dim():
		return bad("cross_attention_dim", c.CrossAttentionDim, fmt.Sprintf("%d = heads×head_dim, matching cross heads×dim %d", c.Dim(), c.CrossDim()))
	case c.NumLayers < 0:
		return bad("num_layers", c.NumLayers, "≥ 0")
	case c.CaptionChannels <= 0:
		return bad("caption_channels", c.CaptionChannels, "> 0")
	case c.MLPRatio <= 0 || c.Hidden() <= 0:
		return bad("mlp_ratio", c.MLPRatio, "> 0")
	case c.NormElementwiseAffine:
		return bad("norm_elementwise_affine", true, "false")
	case c.AttentionBias:
		return bad("attention_bias", true, "false")
	case c.QKNorm != nil && *c.QKNorm != "rms_norm_across_heads":
		return bad("qk_norm", *c.QKNorm, `null or "rms_norm_across_heads"`)
	case c.InterpolationScale != nil && (*c.InterpolationScale <= 0 || c.SampleSize <= 0):
		return bad("interpolation_scale/sample_size", fmt.Sprint(*c.InterpolationScale, "/", c.SampleSize), "positive")
	}
	return nil
}

// maxMLPRatio bounds mlp_ratio (released Sana models use 2.5).
const maxMLPRatio = 64

// validateSizes bounds every count and width before Validate multiplies
// them or Load loops over them (weights.MaxLayers says why).
func (c Config) validateSizes() error {
	const scope = "transformer config"
	for _, s := range []struct {
		key         string
		v, min, max int
	}{
		{"in_channels", c.InChannels, 1, weights.MaxWidth},
		{"out_channels", c.Out(), 1, weights.MaxWidth},
		{"num_attention_heads", c.NumAttentionHeads, 1, weights.MaxHeads},
		{"attention_head_dim", c.AttentionHeadDim, 1, weights.MaxHeadDim},
		{"num_cross_attention_heads", c.NumCrossAttnHeads, 1, weights.MaxHeads},
		{"cross_attention_head_dim", c.CrossAttnHeadDim, 1, weights.MaxHeadDim},
		{"cross_attention_dim", c.CrossAttentionDim, 1, weights.MaxWidth},
		{"caption_channels", c.CaptionChannels, 1, weights.MaxWidth},
		{"num_layers", c.NumLayers, 0, weights.MaxLayers},
		{"sample_size", c.SampleSize, 0, 1 << 16},
	} {
		if err := weights.CheckCount(scope, s.key, s.v, s.min, s.max); err != nil {
			return err
		}
	}
	if !(c.MLPRatio > 0 && c.MLPRatio <= maxMLPRatio) {
		return fmt.Errorf("%s: mlp_ratio = %v (want > 0 and at most %d)", scope, c.MLPRatio, maxMLPRatio)
	}
	if c.Dim() > weights.MaxWidth || c.Hidden() > weights.MaxWidth {
		return fmt.Errorf("%s: num_attention_heads×attention_head_dim = %d and mlp width %d (want at most %d)", scope, c.Dim(), c.Hidden(), weights.MaxWidth)
	}
	return nil
}
