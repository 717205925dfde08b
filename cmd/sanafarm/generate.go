package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/model/sana"
)

// generateFlags are the options of `sanafarm generate`.
type generateFlags struct {
	model, negative, sampler, dest, variant string
	output                                  outputFormat
	prompts                                 []string
	steps, width, height, count, batch      int
	backend                                 backendOptions
	guidance                                float64
	seed                                    uint64
	noBinning, verbose, quiet               bool
	loras                                   []string // --lora SOURCE[:WEIGHT]
	loraScale                               float64
	initImage                               string
	strength                                float64
	nvConfig, nvCheckpoint                  string // --config, --checkpoint (NVlabs layout)
	pagScale, pagAdaptive                   float64
	pagLayers                               []int
	controlnet, controlImage                string
	controlScale                            float64
}

func newGenerateCmd() *cobra.Command {
	var f generateFlags
	cmd := &cobra.Command{
		Use:   "generate --prompt TEXT [flags] --dest OUT",
		Short: "Generate images on this machine",
		Long: `generate runs the Sana pipeline on this machine and writes PNG files whose
"parameters" text chunk records the prompt, seed, steps, guidance, sampler, model and size.

--model is a preset (see "sanafarm models list"; sana-tiny works offline) or a
diffusers pipeline folder. --dest OUT is a file for one image, otherwise a
directory (created) that receives 000.png, 001.png, ... It prints the paths
written, one a line, or with -o json their list with each image's parameters.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenerate(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", sana.TinyPreset, "preset name or diffusers pipeline folder")
	fl.StringVar(&f.nvConfig, "config", "", "NVlabs/Sana YAML config, a file, hf://OWNER/REPO/PATH or builtin:configs/... (an NVlabs preset's; with --checkpoint, instead of --model)")
	fl.StringVar(&f.nvCheckpoint, "checkpoint", "", "NVlabs/Sana .pth checkpoint, a file or hf://OWNER/REPO/PATH (with --config)")
	fl.StringArrayVarP(&f.prompts, "prompt", "p", nil, "prompt (repeat for several)")
	fl.StringVar(&f.negative, "negative", "", "negative prompt")
	fl.IntVar(&f.steps, "steps", 0, "denoising steps (default: the preset's, 20; Sprint 2)")
	fl.Float64Var(&f.guidance, "guidance", 0, "guidance scale (default: the preset's, 4.5)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed; image i of the run uses its own stream of this seed")
	fl.IntVar(&f.width, "width", 0, "output width (default: the preset's size)")
	fl.IntVar(&f.height, "height", 0, "output height (default: the preset's size)")
	fl.IntVarP(&f.count, "count", "n", 1, "images per prompt")
	fl.IntVar(&f.batch, "batch", 1, "images denoised together")
	fl.StringVar(&f.sampler, "sampler", "", "sampler override: dpm or euler (default: the model's scheduler)")
	fl.BoolVar(&f.noBinning, "no-binning", false, "generate at exactly --width x --height (multiples of 32) instead of the nearest aspect-ratio bin")
	fl.StringVar(&f.variant, "variant", "", "weights variant (bf16, fp16; default: the preset's)")
	fl.IntVar(&f.backend.threads, "threads", 0, "CPU threads (default: all)")
	fl.StringVar(&f.backend.name, "backend", "cpu", "compute backend: cpu, or cuda in binaries built with make build-cuda")
	fl.IntVar(&f.backend.device, "device", 0, "CUDA device ordinal (with --backend cuda)")
	fl.StringVar(&f.backend.precision, "precision", "auto", precisionUsage)
	f.backend.registerGraphs(fl)
	fl.StringArrayVar(&f.loras, "lora", nil, "LoRA adapter FILE[:WEIGHT] or hf://OWNER/REPO[/FILE][:WEIGHT], fused into the transformer (repeat for several)")
	fl.Float64Var(&f.loraScale, "lora-scale", 1, "global LoRA scale (diffusers' attention_kwargs scale)")
	fl.StringVar(&f.initImage, "init-image", "", "PNG or JPEG input for image-to-image (Sprint models), resized and cropped to the generation size")
	fl.Float64Var(&f.strength, "strength", 0, "image-to-image strength in (0, 1] (default 0.6, as diffusers)")
	fl.Float64Var(&f.pagScale, "pag-scale", 0, "perturbed-attention guidance scale (0: off; docs/pag.md)")
	fl.Float64Var(&f.pagAdaptive, "pag-adaptive-scale", 0, "PAG scale decrease per timestep from 1000 (diffusers' pag_adaptive_scale)")
	fl.IntSliceVar(&f.pagLayers, "pag-layers", nil, "transformer blocks perturbed by PAG, e.g. 7,8 (default 0)")
	fl.StringVar(&f.controlnet, "controlnet", "", "SanaControlNetModel folder or hf://OWNER/REPO (needs --control-image; docs/controlnet.md)")
	fl.StringVar(&f.controlImage, "control-image", "", "PNG or JPEG control image for --controlnet, resized and cropped to the generation size")
	fl.Float64Var(&f.controlScale, "controlnet-scale", 0, "controlnet_conditioning_scale (default 1.0)")
	fl.StringVar(&f.dest, "dest", "", "where the images go: a PNG file (one image) or a directory")
	registerOutput(fl, &f.output)
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log loading and print timings")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	_ = cmd.MarkFlagRequired("prompt")
	_ = cmd.MarkFlagRequired("dest")
	return cmd
}

func runGenerate(ctx context.Context, f generateFlags, stdout, stderr io.Writer) error {
	start := time.Now()
	if err := checkGenerateFlags(f); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if f.verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	f, err := expandNVlabsPreset(f)
	if err != nil {
		return err
	}
	nvlabs := f.nvConfig != "" || f.nvCheckpoint != ""
	if nvlabs && (f.controlnet != "" || f.controlImage != "") {
		return usagef("--controlnet/--control-image work with --model pipelines, not with --config/--checkpoint")
	}
	if err := prepareDest(f.dest, len(f.prompts)*f.count); err != nil {
		return err
	}
	if nvlabs {
		return runGenerateNVlabs(ctx, f, log, stdout, stderr)
	}
	return runGeneratePipeline(ctx, f, log, start, stdout, stderr)
}

// runGeneratePipeline generates with a diffusers pipeline (a preset or a
// folder): resolve, load with its LoRAs and ControlNet, generate, write.
func runGeneratePipeline(ctx context.Context, f generateFlags, log *slog.Logger, start time.Time, stdout, stderr io.Writer) error {
	dir, err := resolveModel(ctx, f.model, f.variant, stderr)
	if err != nil {
		return err
	}
	preset, isPreset := presetOf(f.model)
	in, err := generateInputs(ctx, f, preset, isPreset, stderr)
	if err != nil {
		return err
	}
	req, loras, cn := in.req, in.loras, in.cn
	be, closeBackend, err := newBackend(f.backend)
	if err != nil {
		return err
	}
	defer closeBackend()
	logBackend(log, be, f.backend.device)
	p, err := sana.Load(ctx, os.DirFS(dir), sana.Options{
		Backend: be, Variant: pick(f.variant, preset.Variant),
		Tokenizer: sana.LoadTokenizer, Logger: log, Origin: originOf(f.model, preset, isPreset), LoRA: loras,
		ImageToImage: f.initImage != "", ControlNet: cn, ControlNetOrigin: f.controlnet,
	})
	if err != nil {
		return fmt.Errorf("loading %s: %w", dir, err)
	}
	defer p.Close()
	loaded := time.Since(start)
	res, err := generateWithBar(ctx, p, req, f, stderr)
	if err != nil {
		return err
	}
	paths, err := writeImages(f.dest, res, preset, isPreset, nil)
	if err != nil {
		return err
	}
	if err := printImages(stdout, f.output, paths, res); err != nil {
		return err
	}
	if f.verbose {
		printTiming(stderr, req, res, loaded, p.Backend().Name())
	}
	return nil
}

// generateWithBar runs the request with a progress bar of generated
// images on stderr (unless --quiet).
func generateWithBar(ctx context.Context, p *sana.Pipeline, req sana.Request, f generateFlags, stderr io.Writer) (*sana.Result, error) {
	bar := newStepBar(f, stderr, len(f.prompts)*f.count)
	req.Progress = func(pr sana.Progress) {
		if bar != nil {
			bar.Add(pr.Batch)
		}
	}
	res, err := p.Generate(ctx, req)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stderr)
	}
	return res, err
}

// inputs are what a generate run loads besides the pipeline: the
// request with its control and init images, the LoRA set, the ControlNet.
type inputs struct {
	req   sana.Request
	loras lora.Set
	cn    fs.FS
}

func generateInputs(ctx context.Context, f generateFlags, preset sana.Preset, isPreset bool, stderr io.Writer) (inputs, error) {
	loras, err := loadLoRAs(ctx, f.loras, f.loraScale, stderr)
	if err != nil {
		return inputs{}, err
	}
	req := generateRequest(f, preset, isPreset)
	cn, err := resolveControlNet(ctx, f.controlnet, stderr)
	if err != nil {
		return inputs{}, err
	}
	if err := controlRequest(f, &req); err != nil {
		return inputs{}, err
	}
	if f.initImage != "" {
		if req.InitImage, err = readImage("--init-image", f.initImage); err != nil {
			return inputs{}, err
		}
		req.InitImageSource = f.initImage
	}
	return inputs{req: req, loras: loras, cn: cn}, nil
}

func printTiming(w io.Writer, req sana.Request, res *sana.Result, loaded time.Duration, backend string) {
	t, n := res.Timings, float64(len(res.Images))
	fmt.Fprintf(w, "timing: %d images %dx%d (generated at %dx%d) in %.3fs: %.3f s/image (load %.3fs, encode %.3fs, denoise %.3fs, decode %.3fs) on %s; steps: %d graph replays, %d op by op\n",
		len(res.Images), req.Width, req.Height, res.GenWidth, res.GenHeight, t.Total.Seconds(), t.Total.Seconds()/n,
		loaded.Seconds(), t.Encode.Seconds(), t.Denoise.Seconds(), t.Decode.Seconds(), backend, t.GraphSteps, t.EagerSteps)
}

func presetOf(model string) (sana.Preset, bool) {
	if st, err := os.Stat(model); err == nil && st.IsDir() {
		return sana.Preset{}, false
	}
	p, err := sana.LookupPreset(model)
	return p, err == nil
}

func originOf(model string, p sana.Preset, isPreset bool) string {
	switch {
	case !isPreset:
		return model
	case p.Repo == "":
		return p.Name
	}
	return fmt.Sprintf("%s (%s@%s)", p.Name, p.Repo, p.Revision)
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func generateRequest(f generateFlags, p sana.Preset, isPreset bool) sana.Request {
	r := sana.Request{Prompts: f.prompts, NegativePrompt: f.negative, Width: f.width, Height: f.height,
		NoBinning: f.noBinning, Steps: f.steps, Guidance: f.guidance, Sampler: f.sampler, Seed: f.seed,
		ImagesPerPrompt: f.count, BatchSize: f.batch, Strength: f.strength,
		PAG: sana.PAG{Scale: float32(f.pagScale), AdaptiveScale: float32(f.pagAdaptive), Blocks: f.pagLayers}}
	if isPreset {
		if r.Width == 0 && r.Height == 0 {
			r.Width, r.Height = p.Size, p.Size
		}
		if r.Steps == 0 {
			r.Steps = p.Steps
		}
		if r.Guidance == 0 {
			r.Guidance = p.Guidance
		}
	}
	if r.Width == 0 {
		r.Width = r.Height
	}
	if r.Height == 0 {
		r.Height = r.Width
	}
	return r
}

// newStepBar counts denoising steps × images (nil when quiet).
func newStepBar(f generateFlags, w io.Writer, images int) *progressbar.ProgressBar {
	if f.quiet {
		return nil
	}
	steps := f.steps
	if steps == 0 {
		steps = 20
		if p, ok := presetOf(f.model); ok {
			steps = p.Steps
		}
	}
	return progressbar.NewOptions(images*steps,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("generating "+plural(int64(images), "image")),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
}

// writeImages writes one file when there is one image and out does not
// name a directory, otherwise out/NNN.png.
func writeImages(out string, res *sana.Result, p sana.Preset, isPreset bool, nv *sana.NVlabsProvenance) ([]string, error) {
	st, err := os.Stat(out)
	isDir := err == nil && st.IsDir() || strings.HasSuffix(out, "/") || len(res.Images) > 1
	if isDir {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("creating output directory: %w", err)
		}
	}
	var paths []string
	for _, img := range res.Images {
		path := out
		if isDir {
			path = filepath.Join(out, fmt.Sprintf("%03d.png", img.Index))
		}
		if err := writePNG(path, img, p, isPreset, nv); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// generated is `sanafarm generate -o json`: the images written.
type generated struct {
	Images []generatedImage `json:"images"`
}

type generatedImage struct {
	Path string `json:"path"`
	sana.Params
}

// printImages prints the paths written (paths[i] holds res.Images[i]).
func printImages(w io.Writer, output outputFormat, paths []string, res *sana.Result) error {
	if !output.json() {
		for _, path := range paths {
			fmt.Fprintln(w, path)
		}
		return nil
	}
	out := generated{Images: []generatedImage{}}
	for i, path := range paths {
		out.Images = append(out.Images, generatedImage{Path: path, Params: res.Images[i].Params})
	}
	return writeJSON(w, out)
}

// provenance is the JSON of the PNG "parameters" chunk.
type provenance struct {
	sana.Params
	Preset   string `json:"preset,omitempty"`
	Repo     string `json:"repo,omitempty"`
	Revision string `json:"revision,omitempty"`
	// NVlabs records the config and checkpoint of --config/--checkpoint.
	NVlabs *sana.NVlabsProvenance `json:"nvlabs,omitempty"`
}

func writePNG(path string, img sana.Image, p sana.Preset, isPreset bool, nv *sana.NVlabsProvenance) error {
	meta := provenance{Params: img.Params, NVlabs: nv}
	if isPreset {
		meta.Preset, meta.Repo, meta.Revision = p.Name, p.Repo, p.Revision
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	err = sana.EncodePNG(f, img.Image, map[string]string{"parameters": string(js), "Software": "sanafarm"})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", path, cerr)
	}
	return err
}
