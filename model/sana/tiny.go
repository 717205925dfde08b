package sana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/gemma2"
	"github.com/sanafarm/sanafarm/model/weights"
)

// TinySeed seeds sana-tiny's random weights (fixed, so every machine
// writes the same files).
const TinySeed = 20250101

// TinyOptions select the sana-tiny variant WriteTinyPipeline writes.
type TinyOptions struct {
	// Sprint writes a SanaSprintPipeline (guidance-embedded qk-norm
	// transformer, SCMScheduler) instead of a SanaPipeline.
	Sprint bool
}

// tinyFiles returns every file of the sana-tiny pipeline folder: the real
// architectures at toy size (2-block transformer, 6-stage DC-AE with the
// Sana block structure at 8–32 channels, 2-layer Gemma-2) with
// deterministic random weights, and a small real-format tokenizer.json.
func tinyFiles(o TinyOptions) (map[string][]byte, error) {
	tok, vocab, err := tinyTokenizerJSON()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"tokenizer/tokenizer.json": tok}
	add := func(name string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		files[name] = append(b, '\n')
		return err
	}
	class, sched := ClassSanaPipeline, map[string]any{
		"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver++", "flow_shift": 3.0,
		"prediction_type": "flow_prediction", "use_flow_sigmas": true, "solver_order": 2,
		"final_sigmas_type": "zero", "num_train_timesteps": 1000, "timestep_spacing": "linspace"}
	if o.Sprint {
		class, sched = ClassSprintPipeline, map[string]any{"_class_name": "SCMScheduler", "prediction_type": "trigflow",
			"max_timesteps": 1.5708, "intermediate_timesteps": 1.3, "sigma_data": 0.5, "num_train_timesteps": 1000}
	}
	index := map[string]any{"_class_name": class,
		"scheduler": []string{"diffusers", sched["_class_name"].(string)}, "text_encoder": []string{"transformers", "Gemma2Model"},
		"tokenizer": []string{"transformers", "GemmaTokenizerFast"}, "transformer": []string{"diffusers", "SanaTransformer2DModel"},
		"vae": []string{"diffusers", "AutoencoderDC"}}
	tc, vc, gc := tinyDiT(o.Sprint), tinyVAE(), tinyGemma(vocab)
	errs := []error{add("model_index.json", index), add("scheduler/scheduler_config.json", sched),
		add("transformer/config.json", tc), add("vae/config.json", vc), add("text_encoder/config.json", gc),
		add("tokenizer/tokenizer_config.json", map[string]any{"tokenizer_class": "GemmaTokenizer", "add_bos_token": true,
			"add_eos_token": false, "padding_side": "right", "pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>"})}
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	if err := tinyWeights(files, tc, vc, gc); err != nil {
		return nil, err
	}
	return files, nil
}

// tinyWeights reads the configs back through the real parsers (so they
// get the same defaults and validation as a downloaded repo) and adds
// each component's random safetensors.
func tinyWeights(files map[string][]byte, tc, vc, gc map[string]any) error {
	var d dit.Config
	v := dcae.DefaultConfig()
	g := gemma2.DefaultConfig()
	for _, x := range []struct {
		name string
		dst  any
	}{{"transformer/config.json", &d}, {"vae/config.json", &v}, {"text_encoder/config.json", &g}} {
		if err := weights.DecodeJSON(files[x.name], x.dst); err != nil {
			return fmt.Errorf("sana-tiny %s: %w", x.name, err)
		}
	}
	dt, err := dit.RandomTensors(d, TinySeed)
	if err != nil {
		return fmt.Errorf("sana-tiny transformer: %w", err)
	}
	vt, err := dcae.RandomTensors(v, TinySeed+1)
	if err != nil {
		return fmt.Errorf("sana-tiny vae: %w", err)
	}
	gt, err := gemma2.RandomTensors(g, TinySeed+2)
	if err != nil {
		return fmt.Errorf("sana-tiny text encoder: %w", err)
	}
	for name, ts := range map[string]map[string]*kernels.Tensor{
		"transformer/diffusion_pytorch_model.safetensors": dt,
		"vae/diffusion_pytorch_model.safetensors":         vt,
		"text_encoder/model.safetensors":                  gt,
	} {
		var buf bytes.Buffer
		if err := weights.Write(&buf, ts, map[string]string{"format": "pt", "sanafarm": "sana-tiny"}); err != nil {
			return fmt.Errorf("sana-tiny %s: %w", name, err)
		}
		files[name] = buf.Bytes()
	}
	return nil
}

func tinyDiT(sprint bool) map[string]any {
	c := map[string]any{"_class_name": dit.ClassName, "in_channels": 8, "out_channels": 8, "num_attention_heads": 2,
		"attention_head_dim": 16, "num_layers": 2, "num_cross_attention_heads": 2, "cross_attention_head_dim": 16,
		"cross_attention_dim": 32, "caption_channels": 48, "mlp_ratio": 2.5, "attention_bias": false,
		"norm_elementwise_affine": false, "norm_eps": 1e-6, "sample_size": 16, "patch_size": 1,
		"interpolation_scale": nil, "qk_norm": nil, "guidance_embeds": false, "timestep_scale": 1.0}
	if sprint {
		c["qk_norm"], c["guidance_embeds"], c["guidance_embeds_scale"] = "rms_norm_across_heads", true, 0.1
	}
	return c
}

func tinyVAE() map[string]any {
	types := []string{"ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"}
	ch := []int{8, 8, 16, 16, 32, 32}
	ms := [][]int{{}, {}, {}, {5}, {5}, {5}}
	return map[string]any{"_class_name": dcae.ClassName, "in_channels": 3, "latent_channels": 8, "attention_head_dim": 8,
		"encoder_block_types": types, "decoder_block_types": types,
		"encoder_block_out_channels": ch, "decoder_block_out_channels": ch,
		"encoder_layers_per_block": []int{1, 1, 1, 1, 1, 1}, "decoder_layers_per_block": []int{1, 1, 1, 1, 1, 1},
		"encoder_qkv_multiscales": ms, "decoder_qkv_multiscales": ms,
		"upsample_block_type": "interpolate", "downsample_block_type": "conv",
		"decoder_norm_types": "rms_norm", "decoder_act_fns": "silu", "encoder_out_shortcut": true,
		"decoder_in_shortcut": true, "decoder_conv_act_fn": "relu", "scaling_factor": 0.41407}
}

func tinyGemma(vocab int) map[string]any {
	return map[string]any{"model_type": gemma2.ModelType, "architectures": []string{"Gemma2Model"},
		"vocab_size": vocab, "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
		"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 24, "query_pre_attn_scalar": 24,
		"hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
		"attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "sliding_window": 64,
		"layer_types":  []string{gemma2.SlidingAttention, gemma2.FullAttention},
		"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 1}
}

// WriteTinyPipeline writes the sana-tiny diffusers pipeline folder into
// dir (created if needed): model_index.json, scheduler/, transformer/,
// vae/, text_encoder/ and tokenizer/, all deterministic.
func WriteTinyPipeline(dir string, o TinyOptions) error {
	files, err := tinyFiles(o)
	if err != nil {
		return fmt.Errorf("writing sana-tiny: %w", err)
	}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("writing sana-tiny: %w", err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("writing sana-tiny: %w", err)
		}
	}
	return nil
}

// TinyComplete reports whether dir holds a fully written sana-tiny.
func TinyComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "model_index.json"))
	return err == nil
}

// EnsureTinyPipeline writes sana-tiny into dir unless it is already there.
// It writes a temporary sibling and renames it into place, so a crash
// never leaves a half-written model and concurrent writers are safe (the
// loser's rename fails on the winner's complete folder).
func EnsureTinyPipeline(dir string) error {
	if TinyComplete(dir) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("writing sana-tiny: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".sana-tiny-*")
	if err != nil {
		return fmt.Errorf("writing sana-tiny: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := WriteTinyPipeline(tmp, TinyOptions{}); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil && !TinyComplete(dir) {
		return fmt.Errorf("writing sana-tiny: %w", err)
	}
	return nil
}
