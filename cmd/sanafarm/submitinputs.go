package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/protocol"
)

// submitInputs are submit's model inputs (docs/lora.md, docs/nvlabs.md):
// the flags of `generate` that name files, as JobSpec fields the nodes
// read (local paths become absolute file:// URLs; they must be under the
// nodes' --allow-read).
type submitInputs struct {
	loras              []string
	loraScale          float64
	initImage          string
	initColumn         string
	strength           float64
	config, checkpoint string
}

func (s *submitInputs) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&s.loras, "lora", nil, "LoRA adapter URL[:WEIGHT] (node path, file://, s3:// or hf://OWNER/REPO[/FILE]), fused at load (repeat for several)")
	fl.Float64Var(&s.loraScale, "lora-scale", 0, "global LoRA scale (default 1)")
	fl.StringVar(&s.initImage, "init-image", "", "PNG or JPEG input for image-to-image (Sprint models): node path, file://, s3:// or hf:// URL")
	fl.StringVar(&s.initColumn, "init-image-column", "", "column of the --prompts file holding each row's init image (path or URL), instead of --init-image")
	fl.Float64Var(&s.strength, "strength", 0, "image-to-image strength in (0, 1] (default 0.6)")
	fl.StringVar(&s.config, "config", "", "NVlabs YAML config (node path, file://, hf:// or builtin: URL), with --checkpoint instead of --model")
	fl.StringVar(&s.checkpoint, "checkpoint", "", "NVlabs .pth checkpoint (node path, file:// or hf:// URL), with --config")
}

// apply sets the spec's input fields; the coordinator validates them.
func (s *submitInputs) apply(spec *protocol.JobSpec) error {
	if spec.Model == "" && s.config == "" {
		return errors.New("give --model, or --config and --checkpoint")
	}
	for _, v := range s.loras {
		l, err := parseLoRASpec(v)
		if err != nil {
			return err
		}
		u, err := inputURL(l.source)
		if err != nil {
			return fmt.Errorf("--lora %q: %w", v, err)
		}
		spec.LoRAs = append(spec.LoRAs, protocol.LoRA{URL: u, Weight: l.weight})
	}
	spec.LoRAScale, spec.Strength, spec.InitImageColumn = s.loraScale, s.strength, s.initColumn
	var err error
	for _, f := range []struct {
		flag string
		v    string
		dst  *string
	}{{"--init-image", s.initImage, &spec.InitImage}, {"--config", s.config, &spec.Config}, {"--checkpoint", s.checkpoint, &spec.Checkpoint}} {
		if f.v == "" {
			continue
		}
		if *f.dst, err = inputURL(f.v); err != nil {
			return fmt.Errorf("%s %q: %w", f.flag, f.v, err)
		}
	}
	*spec = spec.ExpandPreset() // an NVlabs preset is sent as its config and checkpoint
	return nil
}

// inputURL keeps hf:// and other URLs and built-in config references
// (builtin:configs/...) and makes a path an absolute file:// URL.
func inputURL(v string) (string, error) {
	if hub.IsURL(v) || nvlabs.IsBuiltin(v) {
		return v, nil
	}
	return localURL(v)
}
