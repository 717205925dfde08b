package nvlabs

import (
	"fmt"
	"slices"
	"strings"
)

// textEncoders maps text_encoder_name to the Hugging Face repo NVlabs
// loads it from; only Gemma-2 2B encoders (caption_channels 2304, our
// model/gemma2) are accepted.
var textEncoders = map[string]string{
	"gemma-2-2b-it": "google/gemma-2-2b-it",
	"gemma-2-2b":    "google/gemma-2-2b",
}

// vaeRepos maps vae_pretrained to the diffusers-layout DC-AE repo
// (NVlabs' 1.0 configs name the original mit-han-lab layout).
var vaeRepos = map[string]string{
	"mit-han-lab/dc-ae-f32c32-sana-1.0":           "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers",
	"mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers": "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers",
	"mit-han-lab/dc-ae-f32c32-sana-1.1":           "mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers",
	"mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers": "mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers",
}

// visSamplers maps scheduler.vis_sampler to our sampler names.
var visSamplers = map[string]string{"flow_dpm-solver": "dpm", "flow_euler": "euler"}

func unsupported(key string, v any, want string) error {
	return fmt.Errorf("%s = %v is not supported (want %s)", key, v, want)
}

func keys(m map[string]string) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func (c *Config) fromModel(m modelSection) error {
	a, err := lookupArch(m.Model)
	if err != nil {
		return err
	}
	c.Model, c.ImageSize = m.Model, m.ImageSize
	switch {
	case m.ImageSize <= 0:
		return unsupported("model.image_size", m.ImageSize, "a positive size such as 1024")
	case m.MLPRatio == nil || *m.MLPRatio <= 0:
		return fmt.Errorf("model.mlp_ratio is missing or not positive")
	case m.UsePE == nil:
		// NVlabs' model class and config class default use_pe differently.
		return fmt.Errorf("model.use_pe is missing (write true or false)")
	case m.PEInterpolation != nil && *m.PEInterpolation <= 0:
		return unsupported("model.pe_interpolation", *m.PEInterpolation, "> 0")
	case isTrue(m.QKNorm) != isTrue(m.CrossNorm):
		return fmt.Errorf("model.qk_norm = %v with cross_norm = %v is not supported: diffusers' one qk_norm covers both attentions",
			isTrue(m.QKNorm), isTrue(m.CrossNorm))
	case m.AttnType == nil || *m.AttnType != "linear":
		return unsupported("model.attn_type", deref(m.AttnType), "linear")
	case m.CrossAttnType != nil && !slices.Contains([]string{"flash", "linear", "vanilla"}, *m.CrossAttnType):
		return unsupported("model.cross_attn_type", *m.CrossAttnType, "flash, linear or vanilla (softmax cross-attention)")
	case m.FFNType == nil || *m.FFNType != "glumbconv":
		return unsupported("model.ffn_type", deref(m.FFNType), "glumbconv")
	case m.MLPActs != nil && !acts(m.MLPActs, "silu", "silu", ""):
		return unsupported("model.mlp_acts", actsString(m.MLPActs), "[silu, silu, null]")
	case m.LinearHeadDim != nil && *m.LinearHeadDim != linearHeadDim:
		return unsupported("model.linear_head_dim", *m.LinearHeadDim, "32")
	case m.AspectRatioType != nil && *m.AspectRatioType != fmt.Sprintf("ASPECT_RATIO_%d", m.ImageSize):
		return unsupported("model.aspect_ratio_type", *m.AspectRatioType, fmt.Sprintf("ASPECT_RATIO_%d for image_size %d", m.ImageSize, m.ImageSize))
	case isTrue(m.CFGEmbed):
		return unsupported("model.cfg_embed", true, "false (Sana-Sprint NVlabs configs are not supported)")
	}
	for _, l := range m.PAGLayers {
		if l < 0 || l >= a.depth {
			return unsupported("model.pag_applied_layers", m.PAGLayers, fmt.Sprintf("block indices in [0, %d)", a.depth))
		}
		c.PAGLayers = append(c.PAGLayers, fmt.Sprintf("transformer_blocks.%d", l))
	}
	return nil
}

func (c *Config) fromText(t textSection) error {
	repo, ok := textEncoders[t.Name]
	if !ok {
		return unsupported("text_encoder.text_encoder_name", fmt.Sprintf("%q", t.Name), keys(textEncoders))
	}
	if !isTrue(t.YNorm) {
		return unsupported("text_encoder.y_norm", deref(t.YNorm), "true (the caption RMSNorm every released model has)")
	}
	c.TextEncoder = TextEncoder{Name: t.Name, Repo: repo, MaxLength: 300, CHI: t.CHI}
	if t.MaxLength != nil {
		if *t.MaxLength <= 0 || *t.MaxLength > 8192 {
			return unsupported("text_encoder.model_max_length", *t.MaxLength, "1..8192")
		}
		c.TextEncoder.MaxLength = *t.MaxLength
	}
	return nil
}

func (c *Config) fromVAE(v vaeSection, m modelSection) error {
	switch {
	case v.Type != "dc-ae" && v.Type != "AutoencoderDC":
		return unsupported("vae.vae_type", fmt.Sprintf("%q", v.Type), "dc-ae or AutoencoderDC")
	case vaeRepos[v.Pretrained] == "":
		return unsupported("vae.vae_pretrained", fmt.Sprintf("%q", v.Pretrained), keys(vaeRepos))
	case v.ScaleFactor == nil || *v.ScaleFactor <= 0:
		return fmt.Errorf("vae.scale_factor is missing or not positive")
	case v.LatentDim != nil && *v.LatentDim != 32:
		return unsupported("vae.vae_latent_dim", *v.LatentDim, "32 (DC-AE f32c32)")
	case v.Downsample != nil && *v.Downsample != 32:
		return unsupported("vae.vae_downsample_rate", *v.Downsample, "32 (DC-AE f32c32)")
	case c.ImageSize%32 != 0:
		return unsupported("model.image_size", c.ImageSize, "a multiple of the VAE's downsample rate 32")
	}
	c.VAE = VAE{Pretrained: v.Pretrained, Repo: vaeRepos[v.Pretrained], ScaleFactor: *v.ScaleFactor}
	a, _ := lookupArch(m.Model)
	c.Transformer = c.transformer(a, m, 32, 32)
	return nil
}

func (c *Config) fromScheduler(s schedSection) error {
	name, ok := visSamplers[s.VisSampler]
	switch {
	case !ok:
		return unsupported("scheduler.vis_sampler", fmt.Sprintf("%q", s.VisSampler), keys(visSamplers))
	case s.FlowShift == nil || *s.FlowShift <= 0:
		return fmt.Errorf("scheduler.flow_shift is missing or not positive")
	case s.PredictFlowV != nil && !*s.PredictFlowV:
		return unsupported("scheduler.predict_flow_v", false, "true (flow velocity prediction)")
	case s.PredictV != nil && !*s.PredictV:
		return unsupported("scheduler.predict_v", false, "true (flow velocity prediction)")
	case s.NoiseSchedule != nil && *s.NoiseSchedule != "linear_flow":
		return unsupported("scheduler.noise_schedule", *s.NoiseSchedule, "linear_flow")
	case isTrue(s.PredSigma):
		return unsupported("scheduler.pred_sigma", true, "false")
	}
	c.FlowShift, c.Sampler = *s.FlowShift, name
	return nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func deref[T any](p *T) any {
	if p == nil {
		return "null"
	}
	return *p
}

func acts(got []*string, want ...string) bool {
	return len(got) == len(want) && actsString(got) == actsString(ptrs(want))
}

func ptrs(s []string) []*string {
	out := make([]*string, len(s))
	for i := range s {
		if s[i] != "" {
			out[i] = &s[i]
		}
	}
	return out
}

func actsString(a []*string) string {
	var parts []string
	for _, s := range a {
		parts = append(parts, fmt.Sprint(deref(s)))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
