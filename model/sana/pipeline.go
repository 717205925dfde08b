package sana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sync/atomic"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/controlnet"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/gemma2"
	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Pipeline class names of model_index.json.
const (
	ClassSanaPipeline   = "SanaPipeline"
	ClassSprintPipeline = "SanaSprintPipeline"
)

// Options configure Load.
type Options struct {
	// Backend computes every model (default: the CPU backend, all threads).
	Backend kernels.Backend
	// Variant selects "<stem>.<variant>.safetensors" weights ("bf16",
	// "fp16"); components without that variant fall back to the default
	// files, with a log line.
	Variant string
	// Tokenizer opens tokenizer/ (required for Generate from text).
	Tokenizer TokenizerLoader
	// Noise draws the initial latents (and Sprint's step noise); default
	// DefaultNoise.
	Noise NoiseSource
	// Logger receives load and generation logs (default: discard).
	Logger *slog.Logger
	// Origin names the weights in metadata and errors (repo or folder).
	Origin string
	// Transformer, if set, builds the denoiser from the loaded transformer
	// weights instead of dit.New: the hook through which a parallel model
	// (package shard) is injected on each rank of a group.
	Transformer func(cfg dit.Config, w *dit.Weights, be kernels.Backend) (Transformer, error)
	// LoRA adapters are fused into the transformer's weights at load
	// (docs/lora.md); an empty set loads the plain weights.
	LoRA lora.Set
	// ImageToImage also loads the autoencoder's encoder, for requests with
	// an init image (Sprint pipelines).
	ImageToImage bool
	// ControlNet, if set, is a SanaControlNetModel folder (config.json,
	// diffusion_pytorch_model.safetensors) that conditions every request
	// on its ControlImage; ControlNetOrigin names it in provenance. A
	// SanaControlNetPipeline folder brings its own controlnet/.
	ControlNet       fs.FS
	ControlNetOrigin string
	// DecodeTiling decodes latents larger than its threshold tile by tile
	// (docs/performance.md, "Tiled decode"); the zero value is the default
	// (DefaultDecodeTiling), Off disables it.
	DecodeTiling DecodeTiling
}

// Pipeline is a loaded Sana (or Sana-Sprint) diffusers pipeline folder.
// Generate may be called concurrently only if the backend allows it.
type Pipeline struct {
	class   string
	be      kernels.Backend
	log     *slog.Logger
	noise   NoiseSource
	origin  string
	dit     Transformer
	vae     *dcae.Model
	te      *gemma2.Model
	tok     Tokenizer
	flow    *sampler.Config // standard pipelines
	scm     *sampler.SCMConfig
	closers []func() error
	chi     *string // an NVlabs config's complex human instruction (nil: diffusers' default)
	maxSeq  int     // an NVlabs config's model_max_length (0: 300)
	// pagBlocks are an NVlabs config's pag_applied_layers: the blocks PAG
	// perturbs when a request names none (nil: DefaultPAGBlocks).
	pagBlocks []int

	// lora and loraScale record the fused adapters (provenance).
	lora      []LoRARef
	loraScale float64
	img2img   bool // the encoder is loaded (Options.ImageToImage)
	// captureWarned: a failed CUDA-graph capture was logged (noteSteps).
	captureWarned atomic.Bool
	tiling        DecodeTiling

	control       *controlnet.Model // nil: no ControlNet
	controlOrigin string
}

// modelIndex is the part of model_index.json the loader reads.
type modelIndex struct {
	Class       string          `json:"_class_name"`
	Scheduler   json.RawMessage `json:"scheduler"`
	TextEncoder json.RawMessage `json:"text_encoder"`
	Tokenizer   json.RawMessage `json:"tokenizer"`
}

// present reports whether a model_index component entry is a real
// ["library", "Class"] pair (not [null, null] or absent).
func present(raw json.RawMessage) bool {
	var pair []*string
	return json.Unmarshal(raw, &pair) == nil && len(pair) == 2 && pair[1] != nil
}

// Load reads a diffusers pipeline folder: model_index.json, transformer/,
// vae/, scheduler/ and, when model_index names them, text_encoder/ and
// tokenizer/. Every problem names the file it concerns.
func Load(ctx context.Context, fsys fs.FS, opts Options) (*Pipeline, error) {
	var idx modelIndex
	if err := weights.ReadConfig(fsys, "model_index.json", &idx); err != nil {
		return nil, fmt.Errorf("loading pipeline: %w", err)
	}
	if idx.Class != ClassSanaPipeline && idx.Class != ClassSprintPipeline && idx.Class != ClassSprintImg2ImgPipeline && idx.Class != ClassControlNetPipeline {
		return nil, fmt.Errorf("loading pipeline: model_index.json names %q, want %s, %s, %s or %s", idx.Class, ClassSanaPipeline, ClassSprintPipeline, ClassSprintImg2ImgPipeline, ClassControlNetPipeline)
	}
	tiling, err := tilingOf(opts)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{class: idx.Class, be: opts.Backend, log: opts.Logger, noise: opts.Noise, origin: opts.Origin, img2img: opts.ImageToImage,
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
	steps := []func() error{
		func() error { return p.loadScheduler(fsys) },
		func() error { return p.loadTransformer(fsys, opts) },
		func() error { return p.loadControlNet(fsys, opts) },
		func() error { return p.loadVAE(fsys, opts.Variant) },
	}
	if present(idx.TextEncoder) {
		steps = append(steps, func() error { return p.loadTextEncoder(fsys, opts.Variant) })
	}
	if present(idx.Tokenizer) {
		steps = append(steps, func() error { return p.loadTokenizer(fsys, opts.Tokenizer) })
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			p.Close()
			return nil, err
		}
		if err := step(); err != nil {
			p.Close()
			return nil, fmt.Errorf("loading pipeline: %w", err)
		}
	}
	return p, nil
}

// Close releases the weight files.
func (p *Pipeline) Close() error {
	var errs []error
	for _, c := range p.closers {
		errs = append(errs, c())
	}
	p.closers = nil
	return errors.Join(errs...)
}

// Sprint reports a Sana-Sprint pipeline (SCM sampler, embedded guidance).
func (p *Pipeline) Sprint() bool { return p.scm != nil }

// TransformerConfig returns the transformer's config.
func (p *Pipeline) TransformerConfig() dit.Config { return p.dit.Config() }

// Backend returns the backend the pipeline computes with.
func (p *Pipeline) Backend() kernels.Backend { return p.be }

// open finds and opens the weights of component dir (prefix
// "diffusion_pytorch_model" or "model") for the variant, falling back to
// the default files.
func (p *Pipeline) open(fsys fs.FS, dir, prefix, variant string) (*weights.Checkpoint, string, error) {
	name, err := weights.FindCheckpoint(fsys, dir, prefix, variant)
	if err != nil && variant != "" {
		if name, err = weights.FindCheckpoint(fsys, dir, prefix, ""); err == nil {
			p.log.Info("weights variant not found, using the default files", "component", dir, "variant", variant, "file", name)
		}
	}
	if err != nil {
		return nil, "", err
	}
	ck, err := weights.OpenCheckpoint(fsys, name)
	if err != nil {
		return nil, "", fmt.Errorf("opening %s: %w", name, err)
	}
	p.closers = append(p.closers, ck.Close)
	return ck, name, nil
}

func (p *Pipeline) loadTransformer(fsys fs.FS, opts Options) error {
	variant := opts.Variant
	cfg, err := dit.ReadConfig(fsys, "transformer/config.json")
	if err != nil {
		return err
	}
	ck, name, err := p.open(fsys, "transformer", "diffusion_pytorch_model", variant)
	if err != nil {
		return err
	}
	var src weights.Source = ck
	if len(opts.LoRA.Adapters) > 0 {
		if src, err = lora.Fuse(ck, opts.LoRA); err != nil {
			return err
		}
		for _, a := range opts.LoRA.Adapters {
			p.lora = append(p.lora, LoRARef{Source: a.Adapter.Source, SHA256: a.Adapter.SHA256, Weight: a.Weight})
		}
		p.loraScale = opts.LoRA.Scale
	}
	w, err := dit.Load(cfg, src, name)
	if err != nil {
		return err
	}
	if p.Sprint() != cfg.GuidanceEmbeds {
		return fmt.Errorf("transformer/config.json: guidance_embeds = %v does not match the %s scheduler", cfg.GuidanceEmbeds, p.schedulerName())
	}
	if opts.Transformer == nil {
		p.dit = dit.New(cfg, w, p.be)
		return nil
	}
	if p.dit, err = opts.Transformer(cfg, w, p.be); err != nil {
		return fmt.Errorf("transformer: %w", err)
	}
	return nil
}

func (p *Pipeline) loadVAE(fsys fs.FS, variant string) error {
	cfg, err := dcae.ReadConfig(fsys, "vae/config.json")
	if err != nil {
		return err
	}
	ck, name, err := p.open(fsys, "vae", "diffusion_pytorch_model", variant)
	if err != nil {
		return err
	}
	parts := dcae.PartDecoder
	if p.img2img || p.control != nil {
		parts = dcae.PartAll
	}
	w, err := dcae.Load(cfg, ck, name, parts)
	if err != nil {
		return err
	}
	p.vae = dcae.New(cfg, w, p.be)
	return nil
}

func (p *Pipeline) loadTextEncoder(fsys fs.FS, variant string) error {
	cfg, err := gemma2.ReadConfig(fsys, "text_encoder/config.json")
	if err != nil {
		return err
	}
	ck, name, err := p.open(fsys, "text_encoder", "model", variant)
	if err != nil {
		return err
	}
	w, err := gemma2.Load(cfg, ck, name)
	if err != nil {
		return err
	}
	p.te = gemma2.New(cfg, w, p.be)
	return nil
}

func (p *Pipeline) loadTokenizer(fsys fs.FS, load TokenizerLoader) error {
	if load == nil {
		return errors.New("tokenizer/: no tokenizer loader configured (Options.Tokenizer)")
	}
	if _, err := fs.Stat(fsys, path.Join("tokenizer", "tokenizer.json")); err != nil {
		return fmt.Errorf("tokenizer/tokenizer.json: %w", err)
	}
	tok, err := load(fsys, "tokenizer")
	if err != nil {
		return fmt.Errorf("tokenizer/tokenizer.json: %w", err)
	}
	p.tok = tok
	return nil
}

func (p *Pipeline) loadScheduler(fsys fs.FS) error {
	const name = "scheduler/scheduler_config.json"
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	var head struct {
		Class string `json:"_class_name"`
	}
	if err := weights.DecodeJSON(b, &head); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if head.Class == sampler.ClassSCM {
		c, err := sampler.ReadSCMConfig(fsys, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p.scm = &c
		return nil
	}
	c, err := sampler.ParseConfig(b)
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p.flow = &c
	return nil
}

func (p *Pipeline) schedulerName() string {
	if p.scm != nil {
		return sampler.ClassSCM
	}
	return p.flow.ClassName
}
