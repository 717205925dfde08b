// Package dcae implements diffusers' AutoencoderDC (the Sana DC-AE
// f32c32): the decoder that turns Sana latents into images, the encoder,
// and a memory-bounded tiled decode, on a kernels.Backend.
package dcae

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// ClassName is the diffusers class this package implements.
const ClassName = "AutoencoderDC"

// StrList is a config value that is either one string (used for every
// stage) or a per-stage list of strings, as diffusers accepts for block
// types, norm types and activations.
type StrList []string

// UnmarshalJSON accepts a string or a list of strings.
func (s *StrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = StrList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*s = many
	return nil
}

// at returns the value for stage i: a single string applies to every stage.
func (s StrList) at(i int) string {
	if len(s) == 1 {
		return s[0]
	}
	return s[i]
}

// Config is a diffusers vae/config.json for AutoencoderDC. Absent keys take
// diffusers' constructor defaults (see DefaultConfig).
type Config struct {
	ClassName               string  `json:"_class_name"`
	InChannels              int     `json:"in_channels"`
	LatentChannels          int     `json:"latent_channels"`
	AttentionHeadDim        int     `json:"attention_head_dim"`
	EncoderBlockTypes       StrList `json:"encoder_block_types"`
	DecoderBlockTypes       StrList `json:"decoder_block_types"`
	EncoderBlockOutChannels []int   `json:"encoder_block_out_channels"`
	DecoderBlockOutChannels []int   `json:"decoder_block_out_channels"`
	EncoderLayersPerBlock   []int   `json:"encoder_layers_per_block"`
	DecoderLayersPerBlock   []int   `json:"decoder_layers_per_block"`
	EncoderQKVMultiscales   [][]int `json:"encoder_qkv_multiscales"`
	DecoderQKVMultiscales   [][]int `json:"decoder_qkv_multiscales"`
	UpsampleBlockType       string  `json:"upsample_block_type"`
	DownsampleBlockType     string  `json:"downsample_block_type"`
	DecoderNormTypes        StrList `json:"decoder_norm_types"`
	DecoderActFns           StrList `json:"decoder_act_fns"`
	EncoderOutShortcut      bool    `json:"encoder_out_shortcut"`
	DecoderInShortcut       bool    `json:"decoder_in_shortcut"`
	DecoderConvActFn        string  `json:"decoder_conv_act_fn"`
	ScalingFactor           float64 `json:"scaling_factor"`
}

// DefaultConfig is AutoencoderDC's constructor defaults (note: the
// defaults' pixel_shuffle/pixel_unshuffle resamplers are not implemented;
// the Sana configs name "interpolate" and "conv" explicitly).
//
// Each side gets its own lists: ReadConfig decodes over these defaults, and
// encoding/json reuses a slice's backing array, so shared lists would make
// one side's decoded channels overwrite the other's.
func DefaultConfig() Config {
	ch := func() []int { return []int{128, 256, 512, 512, 1024, 1024} }
	ms := func() [][]int { return [][]int{{}, {}, {}, {5}, {5}, {5}} }
	return Config{
		ClassName: ClassName, InChannels: 3, LatentChannels: 32, AttentionHeadDim: 32,
		EncoderBlockTypes: StrList{"ResBlock"}, DecoderBlockTypes: StrList{"ResBlock"},
		EncoderBlockOutChannels: ch(), DecoderBlockOutChannels: ch(),
		EncoderLayersPerBlock: []int{2, 2, 2, 3, 3, 3}, DecoderLayersPerBlock: []int{3, 3, 3, 3, 3, 3},
		EncoderQKVMultiscales: ms(), DecoderQKVMultiscales: ms(),
		UpsampleBlockType: "pixel_shuffle", DownsampleBlockType: "pixel_unshuffle",
		DecoderNormTypes: StrList{"rms_norm"}, DecoderActFns: StrList{"silu"},
		EncoderOutShortcut: true, DecoderInShortcut: true, DecoderConvActFn: "relu",
		ScalingFactor: 1,
	}
}

// ReadConfig reads and validates a vae config.json.
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

// maxStages bounds the resolution stages: compression 2^(stages−1) must
// stay a positive int, and 2^15 is already far beyond the largest image
// side a job may ask for (protocol.MaxImageSide, 4096).
const maxStages = 16

// maxKernel bounds a multi-scale aggregation kernel and maxScales their
// number per stage (released DC-AEs use one, of size 5).
const (
	maxKernel = 63
	maxScales = 16
)

// Stages is the number of resolution stages.
func (c Config) Stages() int { return len(c.DecoderBlockOutChannels) }

// Compression is the spatial compression factor 2^(stages−1) (32 for f32c32).
func (c Config) Compression() int { return 1 << (c.Stages() - 1) }

// stageDesc is one encoder or decoder stage as built.
type stageDesc struct {
	channels, layers int
	block            string // "ResBlock" or "EfficientViTBlock"
	scales           []int  // multi-scale kernel sizes of EfficientViT blocks
	act              kernels.Act
}

func (c Config) encoderStages() []stageDesc {
	out := make([]stageDesc, len(c.EncoderBlockOutChannels))
	for i := range out {
		out[i] = stageDesc{c.EncoderBlockOutChannels[i], c.EncoderLayersPerBlock[i], c.EncoderBlockTypes.at(i),
			c.EncoderQKVMultiscales[i], kernels.ActSiLU} // the encoder always uses rms_norm + silu
	}
	return out
}

func (c Config) decoderStages() []stageDesc {
	out := make([]stageDesc, len(c.DecoderBlockOutChannels))
	for i := range out {
		act, _ := activation(c.DecoderActFns.at(i))
		out[i] = stageDesc{c.DecoderBlockOutChannels[i], c.DecoderLayersPerBlock[i], c.DecoderBlockTypes.at(i),
			c.DecoderQKVMultiscales[i], act}
	}
	return out
}

// activation maps diffusers' activation names onto backend activations.
func activation(name string) (kernels.Act, bool) {
	switch name {
	case "silu", "swish":
		return kernels.ActSiLU, true
	case "relu":
		return kernels.ActReLU, true
	}
	return kernels.ActNone, false
}

// Validate rejects configs this implementation cannot run, naming the key
// and value.
func (c Config) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("autoencoder config: %s = %v (want %s)", key, v, want)
	}
	switch {
	case c.ClassName != "" && c.ClassName != ClassName:
		return bad("_class_name", c.ClassName, ClassName)
	case c.InChannels <= 0 || c.InChannels > weights.MaxWidth:
		return bad("in_channels", c.InChannels, fmt.Sprintf("1 to %d", weights.MaxWidth))
	case c.LatentChannels <= 0 || c.LatentChannels > weights.MaxWidth:
		return bad("latent_channels", c.LatentChannels, fmt.Sprintf("1 to %d", weights.MaxWidth))
	case !(c.ScalingFactor > 0) || math.IsInf(c.ScalingFactor, 0): // latents are divided by it
		return bad("scaling_factor", c.ScalingFactor, "a finite number > 0")
	case c.AttentionHeadDim <= 0 || c.AttentionHeadDim > weights.MaxHeadDim:
		return bad("attention_head_dim", c.AttentionHeadDim, fmt.Sprintf("1 to %d", weights.MaxHeadDim))
	case c.UpsampleBlockType != "interpolate":
		return bad("upsample_block_type", fmt.Sprintf("%q", c.UpsampleBlockType), `"interpolate" (pixel_shuffle upsampling is not implemented)`)
	case c.DownsampleBlockType == "pixel_unshuffle":
		return bad("downsample_block_type", `"pixel_unshuffle"`, `a strided conv, e.g. "conv" (pixel_unshuffle downsampling is not implemented)`)
	}
	if _, ok := activation(c.DecoderConvActFn); !ok {
		return bad("decoder_conv_act_fn", fmt.Sprintf("%q", c.DecoderConvActFn), `"relu" or "silu"`)
	}
	if err := c.validateSide("encoder", c.EncoderBlockTypes, c.EncoderBlockOutChannels, c.EncoderLayersPerBlock, c.EncoderQKVMultiscales); err != nil {
		return err
	}
	if err := c.validateSide("decoder", c.DecoderBlockTypes, c.DecoderBlockOutChannels, c.DecoderLayersPerBlock, c.DecoderQKVMultiscales); err != nil {
		return err
	}
	if len(c.EncoderBlockOutChannels) != len(c.DecoderBlockOutChannels) {
		return bad("encoder_block_out_channels", c.EncoderBlockOutChannels, fmt.Sprintf("as many stages as decoder_block_out_channels (%d)", c.Stages()))
	}
	return c.validateDecoderTypes()
}

func (c Config) validateDecoderTypes() error {
	n := c.Stages()
	for _, kv := range []struct {
		key string
		l   StrList
	}{{"decoder_norm_types", c.DecoderNormTypes}, {"decoder_act_fns", c.DecoderActFns}} {
		if len(kv.l) != 1 && len(kv.l) != n {
			return fmt.Errorf("autoencoder config: %s has %d entries (want 1 or %d)", kv.key, len(kv.l), n)
		}
	}
	for i := range n {
		if v := c.DecoderNormTypes.at(i); v != "rms_norm" {
			return fmt.Errorf("autoencoder config: decoder_norm_types[%d] = %q (want \"rms_norm\"; batch_norm is not implemented)", i, v)
		}
		if v := c.DecoderActFns.at(i); !isAct(v) {
			return fmt.Errorf("autoencoder config: decoder_act_fns[%d] = %q (want \"silu\" or \"relu\")", i, v)
		}
	}
	return nil
}

func isAct(name string) bool { _, ok := activation(name); return ok }

// validateSide checks one side's per-stage lists and the channel ratios
// the shortcuts need.
func (c Config) validateSide(side string, types StrList, ch, layers []int, ms [][]int) error {
	n := len(ch)
	switch {
	case n == 0:
		return fmt.Errorf("autoencoder config: %s_block_out_channels is empty", side)
	case n > maxStages:
		return fmt.Errorf("autoencoder config: %s_block_out_channels has %d stages (want at most %d)", side, n, maxStages)
	case len(layers) != n:
		return fmt.Errorf("autoencoder config: %s_layers_per_block has %d entries (want %d)", side, len(layers), n)
	case len(ms) != n:
		return fmt.Errorf("autoencoder config: %s_qkv_multiscales has %d entries (want %d)", side, len(ms), n)
	case len(types) != 1 && len(types) != n:
		return fmt.Errorf("autoencoder config: %s_block_types has %d entries (want 1 or %d)", side, len(types), n)
	case ch[n-1]%c.LatentChannels != 0:
		return fmt.Errorf("autoencoder config: %s_block_out_channels[%d] = %d is not a multiple of latent_channels %d", side, n-1, ch[n-1], c.LatentChannels)
	}
	for i := range n {
		if err := c.validateStage(side, i, types.at(i), ch, layers[i], ms[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) validateStage(side string, i int, typ string, ch []int, layers int, ms []int) error {
	if layers <= 0 {
		// Zero layers turn stems/resamplers into other module types in diffusers.
		return fmt.Errorf("autoencoder config: %s_layers_per_block[%d] = %d (want > 0; empty stages are not implemented)", side, i, layers)
	}
	if layers > weights.MaxLayers {
		return fmt.Errorf("autoencoder config: %s_layers_per_block[%d] = %d (want at most %d)", side, i, layers, weights.MaxLayers)
	}
	if ch[i] <= 0 || ch[i] > weights.MaxWidth {
		return fmt.Errorf("autoencoder config: %s_block_out_channels[%d] = %d (want 1 to %d)", side, i, ch[i], weights.MaxWidth)
	}
	// The next stage's channels are its own check's, but they divide here
	// first.
	if i+1 < len(ch) && ch[i+1] > 0 && (4*ch[i])%ch[i+1] != 0 { // pixel (un)shuffle group/repeat 4·C_i/C_{i+1}
		return fmt.Errorf("autoencoder config: %s_block_out_channels %d → %d: shortcut needs 4·C_in/C_out integral", side, ch[i], ch[i+1])
	}
	switch typ {
	case "ResBlock":
	case "EfficientViTBlock":
		if ch[i]%c.AttentionHeadDim != 0 {
			return fmt.Errorf("autoencoder config: %s_block_out_channels[%d] = %d is not a multiple of attention_head_dim %d", side, i, ch[i], c.AttentionHeadDim)
		}
		if len(ms) > maxScales {
			return fmt.Errorf("autoencoder config: %s_qkv_multiscales[%d] has %d kernel sizes (want at most %d)", side, i, len(ms), maxScales)
		}
		for _, k := range ms {
			if k <= 0 || k%2 == 0 || k > maxKernel {
				return fmt.Errorf("autoencoder config: %s_qkv_multiscales[%d] has kernel size %d (want odd, 1 to %d)", side, i, k, maxKernel)
			}
		}
	default:
		return fmt.Errorf("autoencoder config: %s_block_types[%d] = %q (want \"ResBlock\" or \"EfficientViTBlock\")", side, i, typ)
	}
	return nil
}
