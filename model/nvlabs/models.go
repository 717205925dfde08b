package nvlabs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sanafarm/sanafarm/model/dit"
)

// arch is one entry of NVlabs' model registry
// (diffusion/model/nets/sana_multi_scale.py: SanaMS_<size>_P<patch>_D<depth>).
type arch struct {
	depth, hidden, heads int
}

// archs are the registered SanaMS models with patch size 1 (every
// released checkpoint); self-attention heads are hidden/linear_head_dim,
// cross-attention uses the registry's num_heads.
var archs = map[string]arch{
	"SanaMS_600M_P1_D28":  {28, 1152, 16},
	"SanaMS_1600M_P1_D20": {20, 2240, 20},
	"SanaMS_2400M_P1_D30": {30, 2240, 20},
	"SanaMS_3200M_P1_D40": {40, 2240, 20},
	"SanaMS_4800M_P1_D60": {60, 2240, 20},
}

// ModelNames lists the model.model values Parse accepts.
func ModelNames() []string {
	var out []string
	for n := range archs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// lookupArch names why a registry name is refused.
func lookupArch(name string) (arch, error) {
	if a, ok := archs[name]; ok {
		return a, nil
	}
	why := "unknown model"
	switch {
	case strings.HasPrefix(name, "SanaMSCM_"):
		why = "Sana-Sprint (TrigFlow) NVlabs configs are not supported; use a Sana-Sprint diffusers preset"
	case strings.Contains(name, "_P2_") || strings.Contains(name, "_P4_"):
		why = "patch size 2/4 models are not supported (every released Sana checkpoint uses P1)"
	case strings.HasPrefix(name, "SanaMSLinearFFN_"):
		why = "the GLUMBConvLinear FFN variant is not supported"
	}
	return arch{}, fmt.Errorf("model.model = %q: %s (supported: %s)", name, why, strings.Join(ModelNames(), ", "))
}

// transformer derives the diffusers SanaTransformer2DModel config the
// conversion script builds for this model (scripts/convert_sana_to_diffusers.py):
// D = hidden, head dim 32; cross heads = num_heads; sample_size =
// image_size/downsample; sin-cos PE with interpolation_scale =
// pe_interpolation only when use_pe.
func (c *Config) transformer(a arch, m modelSection, latent, down int) dit.Config {
	out := latent
	t := dit.Config{
		ClassName:         dit.ClassName,
		InChannels:        latent,
		OutChannels:       &out,
		NumAttentionHeads: a.hidden / linearHeadDim,
		AttentionHeadDim:  linearHeadDim,
		NumLayers:         a.depth,
		NumCrossAttnHeads: a.heads,
		CrossAttnHeadDim:  a.hidden / a.heads,
		CrossAttentionDim: a.hidden,
		CaptionChannels:   captionChannels,
		MLPRatio:          *m.MLPRatio,
		NormEps:           1e-6,
		SampleSize:        c.ImageSize / down,
		PatchSize:         1,
	}
	if *m.UsePE {
		s := 1.0
		if m.PEInterpolation != nil {
			s = *m.PEInterpolation
		}
		t.InterpolationScale = &s
	}
	if m.QKNorm != nil && *m.QKNorm {
		n := "rms_norm_across_heads"
		t.QKNorm = &n
	}
	return t
}

const (
	linearHeadDim   = 32   // LiteLA head dim of every SanaMS model
	captionChannels = 2304 // Gemma-2-2B hidden size
)
