package nvlabs

import (
	"os"
	"strings"
	"testing"
)

// TestConfigs: the three written configs map to the diffusers dimensions
// of docs/sana.md §5 (1.6B 1024, 4K with PE 2.0, 1.5 4.8B with qk-norm).
func TestConfigs(t *testing.T) {
	c, err := ReadFile("testdata/sana_1600m_1024.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Transformer
	if c.Model != "SanaMS_1600M_P1_D20" || tr.NumLayers != 20 || tr.NumAttentionHeads != 70 || tr.AttentionHeadDim != 32 ||
		tr.NumCrossAttnHeads != 20 || tr.CrossAttnHeadDim != 112 || tr.CrossAttentionDim != 2240 || tr.SampleSize != 32 ||
		tr.InterpolationScale != nil || tr.QKNorm != nil || tr.CaptionChannels != 2304 || tr.InChannels != 32 || tr.Hidden() != 5600 {
		t.Errorf("1600M transformer %+v", tr)
	}
	if c.TextEncoder.Repo != "google/gemma-2-2b-it" || c.TextEncoder.MaxLength != 300 ||
		c.TextEncoder.CHIPrompt() != "First instruction line:\n- a second line\nUser Prompt: " {
		t.Errorf("text encoder %+v", c.TextEncoder)
	}
	if c.VAE.Repo != "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers" || c.VAE.ScaleFactor != 0.41407 {
		t.Errorf("vae %+v", c.VAE)
	}
	if c.FlowShift != 3 || c.Sampler != "dpm" || len(c.PAGLayers) != 1 || c.PAGLayers[0] != "transformer_blocks.8" || len(c.SHA256) != 64 {
		t.Errorf("scheduler/pag/sha %v %v %v %v", c.FlowShift, c.Sampler, c.PAGLayers, c.SHA256)
	}
	if b := c.PAGBlocks(); len(b) != 1 || b[0] != 8 {
		t.Errorf("PAGBlocks() = %v, want [8]", b)
	}

	c, err = ReadFile("testdata/sana_1600m_4k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if tr := c.Transformer; tr.SampleSize != 128 || tr.InterpolationScale == nil || *tr.InterpolationScale != 2 || c.FlowShift != 6 ||
		c.TextEncoder.CHI != nil || c.TextEncoder.MaxLength != 300 {
		t.Errorf("4K %+v %+v", tr, c.TextEncoder)
	}

	c, err = ReadFile("testdata/sana15_4800m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if tr := c.Transformer; tr.NumLayers != 60 || tr.QKNorm == nil || *tr.QKNorm != "rms_norm_across_heads" || c.Sampler != "euler" {
		t.Errorf("4.8B %+v sampler %s", tr, c.Sampler)
	}
}

// TestConfigRefusals: every unknown or unsupported value is named.
func TestConfigRefusals(t *testing.T) {
	base, err := os.ReadFile("testdata/sana_1600m_1024.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ from, to, want string }{
		{"model: SanaMS_1600M_P1_D20", "model: SanaMS_1600M_P2_D20", `model.model = "SanaMS_1600M_P2_D20": patch size 2/4`},
		{"model: SanaMS_1600M_P1_D20", "model: SanaMSCM_1600M_P1_D20", "Sana-Sprint"},
		{"model: SanaMS_1600M_P1_D20", "model: PixArt_XL_2", `"PixArt_XL_2": unknown model (supported: SanaMS_1600M_P1_D20,`},
		{"attn_type: linear", "attn_type: flash", "model.attn_type = flash is not supported (want linear)"},
		{"ffn_type: glumbconv", "ffn_type: mlp", "model.ffn_type = mlp"},
		{"    - silu\n    - silu\n    -\n", "    - gelu\n    - silu\n    -\n", "model.mlp_acts = [gelu, silu, null]"},
		{"use_pe: false", "use_pe: true\n  pe_interpolation: -1", "model.pe_interpolation = -1"},
		{"  use_pe: false\n", "", "model.use_pe is missing"},
		{"qk_norm: false", "qk_norm: true", "model.qk_norm = true with cross_norm = false"},
		{"ASPECT_RATIO_1024", "ASPECT_RATIO_512", "model.aspect_ratio_type = ASPECT_RATIO_512"},
		{"    - 8\n", "    - 20\n", "model.pag_applied_layers = [20]"},
		{"multi_scale: true", "multi_scale: true\n  rope: true", "model.rope: unknown key"},
		{"sample_posterior: true", "sample_posterior: true\n  tiling: true", "vae.tiling: unknown key"},
		{"text_encoder_name: gemma-2-2b-it", "text_encoder_name: T5-xxl", `text_encoder.text_encoder_name = "T5-xxl" is not supported (want gemma-2-2b, gemma-2-2b-it)`},
		{"y_norm: true", "y_norm: false", "text_encoder.y_norm = false"},
		{"model_max_length: 300", "model_max_length: 0", "text_encoder.model_max_length = 0"},
		{"vae_type: dc-ae", "vae_type: sdxl", `vae.vae_type = "sdxl"`},
		{"mit-han-lab/dc-ae-f32c32-sana-1.0", "stabilityai/sd-vae", `vae.vae_pretrained = "stabilityai/sd-vae"`},
		{"scale_factor: 0.41407", "scale_factor: 0", "vae.scale_factor is missing"},
		{"vae_latent_dim: 32", "vae_latent_dim: 16", "vae.vae_latent_dim = 16"},
		{"vis_sampler: flow_dpm-solver", "vis_sampler: sa-solver", `scheduler.vis_sampler = "sa-solver"`},
		{"flow_shift: 3.0", "flow_shift: -1", "scheduler.flow_shift is missing or not positive"},
		{"noise_schedule: linear_flow", "noise_schedule: cosine", "scheduler.noise_schedule = cosine"},
		{"image_size: 1024\n  mixed", "image_size: 1000\n  mixed", "model.aspect_ratio_type = ASPECT_RATIO_1024"},
		{"image_size: 1024\n  mixed", "image_size: big\n  mixed", "model: yaml: unmarshal errors"},
		{"scheduler:", "schedule:", `no "scheduler" section`},
	}
	for _, c := range cases {
		if !strings.Contains(string(base), c.from) {
			t.Fatalf("base config lacks %q", c.from)
		}
		y := strings.Replace(string(base), c.from, c.to, 1)
		_, err := Parse("bad.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "nvlabs config bad.yaml: ") {
			t.Errorf("%s → %s: error %v, want %q", c.from, c.to, err, c.want)
		}
	}
}
