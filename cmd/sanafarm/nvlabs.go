package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/sana"
)

// NVlabs defaults when the request leaves them unset: the config's
// image_size, and the NVlabs inference script's 20 steps at guidance 4.5.
const (
	nvlabsSteps    = 20
	nvlabsGuidance = 4.5
)

// expandNVlabsPreset turns --model NVLABS-PRESET into the preset's --config
// and --checkpoint (docs/nvlabs.md): from there the run is the one those
// flags give, --model left at its default.
func expandNVlabsPreset(f generateFlags) (generateFlags, error) {
	p, ok := presetOf(f.model)
	if !ok || !p.NVlabs() {
		return f, nil
	}
	if f.nvConfig != "" || f.nvCheckpoint != "" {
		return f, usagef("--model %s is an NVlabs preset (config %s, checkpoint %s); leave out --config/--checkpoint",
			p.Name, p.Config, p.Checkpoint)
	}
	f.model, f.nvConfig, f.nvCheckpoint = sana.TinyPreset, p.Config, p.Checkpoint
	return f, nil
}

// runGenerateNVlabs is `generate --config FILE.yaml --checkpoint X.pth`:
// the model comes from an NVlabs config and checkpoint (paths or hf://
// URLs) instead of a preset or diffusers folder; the PNGs record both
// references and their sha256.
func runGenerateNVlabs(ctx context.Context, f generateFlags, log *slog.Logger, stdout, stderr io.Writer) error {
	start := time.Now()
	switch {
	case f.nvConfig == "" || f.nvCheckpoint == "":
		return usagef("--config and --checkpoint go together (got --config %q, --checkpoint %q)", f.nvConfig, f.nvCheckpoint)
	case f.model != sana.TinyPreset:
		return usagef("--model %s and --config/--checkpoint are exclusive", f.model)
	}
	hcfg := hub.ConfigFromEnv()
	hcfg.Progress = hub.NewBar(stderr)
	h, err := hub.New(hcfg)
	if err != nil {
		return fmt.Errorf("opening the Hugging Face cache: %w", err)
	}
	loras, err := loadLoRAs(ctx, f.loras, f.loraScale, stderr)
	if err != nil {
		return err
	}
	be, closeBackend, err := newBackend(f.backend)
	if err != nil {
		return err
	}
	defer closeBackend()
	p, prov, err := sana.OpenNVlabs(ctx, h, sana.NVlabsRefs{Config: f.nvConfig, Checkpoint: f.nvCheckpoint}, sana.Options{
		Backend: be, Variant: f.variant, Tokenizer: sana.LoadTokenizer, Logger: log, LoRA: loras})
	if err != nil {
		return err
	}
	defer p.Close()
	log.Info("loaded NVlabs model", "config", prov.Config, "checkpoint", prov.Checkpoint, "in", time.Since(start))
	size := p.TransformerConfig().SampleSize * 32
	req := generateRequest(f, sana.Preset{Size: size, Steps: nvlabsSteps, Guidance: nvlabsGuidance}, true)
	res, err := generateWithBar(ctx, p, req, f, stderr)
	if err != nil {
		return err
	}
	paths, err := writeImages(f.dest, res, sana.Preset{}, false, &prov)
	if perr := printImages(stdout, f.output, paths, res); err == nil {
		err = perr
	}
	return err
}
