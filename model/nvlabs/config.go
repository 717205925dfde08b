package nvlabs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sanafarm/sanafarm/internal/readcap"
	"github.com/sanafarm/sanafarm/model/dit"
)

// Config is what sanafarm takes from an NVlabs YAML config
// (configs/sana_config/.../*.yaml): the transformer's dimensions and the
// text encoder, VAE and scheduler it was trained with.
type Config struct {
	Model       string // model.model, e.g. SanaMS_1600M_P1_D20
	ImageSize   int    // model.image_size
	Transformer dit.Config
	TextEncoder TextEncoder
	VAE         VAE
	// FlowShift and Sampler are scheduler.flow_shift and vis_sampler
	// (as a sana.Request sampler name: "dpm" or "euler").
	FlowShift float64
	Sampler   string
	// PAGLayers are model.pag_applied_layers as diffusers block names.
	PAGLayers []string
	// SHA256 is the hex digest of the YAML bytes (provenance).
	SHA256 string
}

// TextEncoder is text_encoder.*.
type TextEncoder struct {
	Name      string   // text_encoder_name, e.g. gemma-2-2b-it
	Repo      string   // its Hugging Face repo, e.g. google/gemma-2-2b-it
	MaxLength int      // model_max_length
	CHI       []string // chi_prompt lines (none: no complex human instruction)
}

// CHIPrompt is the complex human instruction prepended to prompts, the
// lines joined by "\n" as NVlabs and diffusers do ("" when none).
func (t TextEncoder) CHIPrompt() string { return strings.Join(t.CHI, "\n") }

// VAE is vae.*.
type VAE struct {
	Pretrained  string  // vae_pretrained as written
	Repo        string  // the diffusers-layout repo sanafarm loads
	ScaleFactor float64 // scale_factor (latents are divided by it before decoding)
}

// The YAML sections sanafarm reads. Every key of these sections is either
// used, checked against the one value inference supports, or listed in
// trainingOnly; any other key is an error, so nothing is silently ignored.
// Top-level sections other than these (data, train, work_dir, ...) only
// configure training.
type modelSection struct {
	Model           string    `yaml:"model"`
	ImageSize       int       `yaml:"image_size"`
	MLPRatio        *float64  `yaml:"mlp_ratio"`
	UsePE           *bool     `yaml:"use_pe"`
	PEInterpolation *float64  `yaml:"pe_interpolation"`
	QKNorm          *bool     `yaml:"qk_norm"`
	CrossNorm       *bool     `yaml:"cross_norm"`
	AttnType        *string   `yaml:"attn_type"`
	CrossAttnType   *string   `yaml:"cross_attn_type"`
	FFNType         *string   `yaml:"ffn_type"`
	MLPActs         []*string `yaml:"mlp_acts"`
	LinearHeadDim   *int      `yaml:"linear_head_dim"`
	AspectRatioType *string   `yaml:"aspect_ratio_type"`
	PAGLayers       []int     `yaml:"pag_applied_layers"`
	CFGEmbed        *bool     `yaml:"cfg_embed"`
	Logvar          *bool     `yaml:"logvar"`
}

type textSection struct {
	Name      string   `yaml:"text_encoder_name"`
	YNorm     *bool    `yaml:"y_norm"`
	MaxLength *int     `yaml:"model_max_length"`
	CHI       []string `yaml:"chi_prompt"`
}

type vaeSection struct {
	Type        string   `yaml:"vae_type"`
	Pretrained  string   `yaml:"vae_pretrained"`
	ScaleFactor *float64 `yaml:"scale_factor"`
	LatentDim   *int     `yaml:"vae_latent_dim"`
	Downsample  *int     `yaml:"vae_downsample_rate"`
}

type schedSection struct {
	FlowShift     *float64 `yaml:"flow_shift"`
	VisSampler    string   `yaml:"vis_sampler"`
	PredictFlowV  *bool    `yaml:"predict_flow_v"`
	PredictV      *bool    `yaml:"predict_v"`
	NoiseSchedule *string  `yaml:"noise_schedule"`
	PredSigma     *bool    `yaml:"pred_sigma"`
}

// trainingOnly are keys of the read sections that do not change inference
// (precision and attention-kernel choices of the trainer, checkpoint
// paths, dropout and loss settings, initialisation scales, the posterior
// sampling of the VAE encoder).
var trainingOnly = map[string][]string{
	"model": {"mixed_precision", "fp32_attention", "load_from", "resume_from", "multi_scale", "class_dropout_prob",
		"drop_path", "teacher_model", "cfg_scale", "ladd_multi_scale", "head_block_ids", "lr_scale"},
	"text_encoder": {"y_norm_scale_factor"},
	"vae":          {"sample_posterior"},
	"scheduler":    {"weighting_scheme", "logit_mean", "logit_std", "train_sampling_steps"},
}

// maxConfigBytes bounds an NVlabs YAML config (the released ones are
// under 8 KiB).
const maxConfigBytes = 1 << 20

// ReadFile reads and validates an NVlabs YAML config.
func ReadFile(path string) (Config, error) {
	b, err := readcap.File(path, maxConfigBytes)
	if err != nil {
		return Config{}, fmt.Errorf("nvlabs config: %w", err)
	}
	return Parse(path, b)
}

// Parse validates an NVlabs YAML config; name is used in errors.
func Parse(name string, b []byte) (Config, error) {
	c, err := parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("nvlabs config %s: %w", name, err)
	}
	sum := sha256.Sum256(b)
	c.SHA256 = hex.EncodeToString(sum[:])
	return c, nil
}

func parse(b []byte) (Config, error) {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(b, &top); err != nil {
		return Config{}, err
	}
	var m modelSection
	var t textSection
	var v vaeSection
	var s schedSection
	for _, sec := range []struct {
		key string
		dst any
	}{{"model", &m}, {"text_encoder", &t}, {"vae", &v}, {"scheduler", &s}} {
		if err := decodeSection(top, sec.key, sec.dst); err != nil {
			return Config{}, err
		}
	}
	var c Config
	if err := c.fromModel(m); err != nil {
		return Config{}, err
	}
	if err := c.fromText(t); err != nil {
		return Config{}, err
	}
	if err := c.fromVAE(v, m); err != nil {
		return Config{}, err
	}
	if err := c.fromScheduler(s); err != nil {
		return Config{}, err
	}
	return c, c.Transformer.Validate()
}

// decodeSection decodes top[key] into dst after checking that each of
// its keys is a field of dst or a training-only key.
func decodeSection(top map[string]yaml.Node, key string, dst any) error {
	n, ok := top[key]
	if !ok {
		return fmt.Errorf("no %q section", key)
	}
	var keys map[string]yaml.Node
	if err := n.Decode(&keys); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	known := fieldNames(dst)
	for k := range keys {
		if !slices.Contains(known, k) && !slices.Contains(trainingOnly[key], k) {
			return fmt.Errorf("%s.%s: unknown key (not an NVlabs field sanafarm knows; refusing rather than ignoring it)", key, k)
		}
	}
	if err := n.Decode(dst); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// fieldNames lists the yaml tags of the struct dst points to.
func fieldNames(dst any) []string {
	t := reflect.TypeOf(dst).Elem()
	var out []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

// PAGBlocks are PAGLayers as transformer block indices (the form
// perturbed-attention guidance takes; nil when the config names none).
func (c Config) PAGBlocks() []int {
	var out []int
	for _, l := range c.PAGLayers {
		var i int
		if _, err := fmt.Sscanf(l, "transformer_blocks.%d", &i); err == nil {
			out = append(out, i)
		}
	}
	return out
}
