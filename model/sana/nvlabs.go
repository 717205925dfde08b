package sana

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math"

	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/gemma2"
	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/weights"
)

// NVlabsParts are the pieces of a model run the NVlabs way: the YAML
// config, the trainer's checkpoint (mapped to diffusers names, see
// nvlabs.Map) and the folders of the text encoder and VAE repos the
// config names (each a repo root: config.json and weights; the text
// encoder's also holds tokenizer.json).
type NVlabsParts struct {
	Config      nvlabs.Config
	Checkpoint  weights.Source
	TextEncoder fs.FS
	VAE         fs.FS
}

// LoadNVlabs builds a pipeline from NVlabsParts. The scheduler is the one
// the config names (flow_shift, vis_sampler) with the settings of the
// scheduler_config.json Sana's diffusers repos ship (DPM-Solver++ 2M,
// midpoint, flow sigmas, final sigma zero), and
// prompts get the config's chi_prompt instead of diffusers' default and
// its model_max_length as the default Request.MaxSequenceLength.
func LoadNVlabs(ctx context.Context, parts NVlabsParts, opts Options) (*Pipeline, error) {
	cfg := parts.Config
	tiling, err := tilingOf(opts)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{class: ClassSanaPipeline, be: opts.Backend, log: opts.Logger, noise: opts.Noise, origin: opts.Origin,
		tiling: tiling}
	if p.be == nil {
		p.be = cpu.New(cpu.Config{})
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.noise == nil {
		p.noise = DefaultNoise{}
	}
	chi := cfg.TextEncoder.CHIPrompt()
	p.chi, p.maxSeq = &chi, cfg.TextEncoder.MaxLength
	p.pagBlocks = cfg.PAGBlocks()
	steps := []func() error{
		func() error { return p.nvlabsScheduler(cfg) },
		func() error { return p.nvlabsTransformer(cfg, parts.Checkpoint, opts) },
		func() error { return p.nvlabsVAE(cfg, parts.VAE, opts.Variant) },
		func() error { return p.nvlabsTextEncoder(parts.TextEncoder, opts) },
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			p.Close()
			return nil, err
		}
		if err := step(); err != nil {
			p.Close()
			return nil, fmt.Errorf("loading NVlabs model %s: %w", cfg.Model, err)
		}
	}
	return p, nil
}

// nvlabsSchedulerJSON is the scheduler config for a vis_sampler.
func nvlabsSchedulerJSON(c nvlabs.Config) string {
	if c.Sampler == SamplerEuler {
		return fmt.Sprintf(`{"_class_name": %q, "shift": %g, "num_train_timesteps": 1000}`, sampler.ClassEuler, c.FlowShift)
	}
	return fmt.Sprintf(`{"_class_name": %q, "algorithm_type": "dpmsolver++", "solver_order": 2, "solver_type": "midpoint",
		"prediction_type": "flow_prediction", "use_flow_sigmas": true, "flow_shift": %g, "final_sigmas_type": "zero",
		"lower_order_final": true, "euler_at_final": false, "num_train_timesteps": 1000, "timestep_spacing": "linspace"}`,
		sampler.ClassDPMSolver, c.FlowShift)
}

func (p *Pipeline) nvlabsScheduler(c nvlabs.Config) error {
	s, err := sampler.ParseConfig([]byte(nvlabsSchedulerJSON(c)))
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		return fmt.Errorf("scheduler from the config (vis_sampler %s, flow_shift %g): %w", c.Sampler, c.FlowShift, err)
	}
	p.flow = &s
	return nil
}

func (p *Pipeline) nvlabsTransformer(c nvlabs.Config, ck weights.Source, opts Options) error {
	if ck == nil {
		return fmt.Errorf("no checkpoint")
	}
	strict, _ := ck.(interface{ CheckAllRead(string) error })
	if len(opts.LoRA.Adapters) > 0 { // fused on the diffusers names, as in Load
		var err error
		if ck, err = lora.Fuse(ck, opts.LoRA); err != nil {
			return err
		}
		for _, a := range opts.LoRA.Adapters {
			p.lora = append(p.lora, LoRARef{Source: a.Adapter.Source, SHA256: a.Adapter.SHA256, Weight: a.Weight})
		}
		p.loraScale = opts.LoRA.Scale
	}
	w, err := dit.Load(c.Transformer, ck, p.origin)
	if err != nil {
		return err
	}
	if strict != nil { // as diffusers' load_state_dict(strict=True)
		if err := strict.CheckAllRead(p.origin); err != nil {
			return err
		}
	}
	if opts.Transformer == nil {
		p.dit = dit.New(c.Transformer, w, p.be)
		return nil
	}
	if p.dit, err = opts.Transformer(c.Transformer, w, p.be); err != nil {
		return fmt.Errorf("transformer: %w", err)
	}
	return nil
}

// nvlabsVAE loads the DC-AE decoder from its own repo; the config's
// scale_factor must be the repo's scaling_factor (the pipeline divides by
// the latter).
func (p *Pipeline) nvlabsVAE(c nvlabs.Config, fsys fs.FS, variant string) error {
	if fsys == nil {
		return fmt.Errorf("no VAE folder (%s)", c.VAE.Repo)
	}
	cfg, err := dcae.ReadConfig(fsys, "config.json")
	if err != nil {
		return fmt.Errorf("VAE %s: %w", c.VAE.Repo, err)
	}
	if math.Abs(cfg.ScalingFactor-c.VAE.ScaleFactor) > 1e-9 {
		return fmt.Errorf("vae.scale_factor = %g but %s/config.json has scaling_factor %g", c.VAE.ScaleFactor, c.VAE.Repo, cfg.ScalingFactor)
	}
	ck, name, err := p.open(fsys, ".", "diffusion_pytorch_model", variant)
	if err != nil {
		return fmt.Errorf("VAE %s: %w", c.VAE.Repo, err)
	}
	w, err := dcae.Load(cfg, ck, name, dcae.PartDecoder)
	if err != nil {
		return err
	}
	p.vae = dcae.New(cfg, w, p.be)
	return nil
}

// nvlabsTextEncoder loads Gemma-2 from its repo root (Gemma2ForCausalLM
// keys under model.; the LM head is not used) and its tokenizer.json.
func (p *Pipeline) nvlabsTextEncoder(fsys fs.FS, opts Options) error {
	if fsys == nil {
		return fmt.Errorf("no text encoder folder")
	}
	cfg, err := gemma2.ReadConfig(fsys, "config.json")
	if err != nil {
		return fmt.Errorf("text encoder: %w", err)
	}
	ck, name, err := p.open(fsys, ".", "model", opts.Variant)
	if err != nil {
		return fmt.Errorf("text encoder: %w", err)
	}
	w, err := gemma2.Load(cfg, ck, name)
	if err != nil {
		return err
	}
	p.te = gemma2.New(cfg, w, p.be)
	if opts.Tokenizer == nil {
		return fmt.Errorf("text encoder: no tokenizer loader configured (Options.Tokenizer)")
	}
	if p.tok, err = opts.Tokenizer(fsys, "."); err != nil {
		return fmt.Errorf("text encoder tokenizer.json: %w", err)
	}
	return nil
}
