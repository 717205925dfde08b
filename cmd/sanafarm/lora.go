package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/lora"
)

// defaultLoRAFile is the file save_lora_weights writes, used when an
// hf:// URL names only a repo.
const defaultLoRAFile = "pytorch_lora_weights.safetensors"

// loraSpec is one --lora value: a local .safetensors file or an hf:// URL,
// and the adapter's weight (set_adapters; default 1).
type loraSpec struct {
	source string
	weight float64
}

// parseLoRASpec splits SOURCE[:WEIGHT]; the weight is the part after the
// last colon when it parses as a number, so hf:// URLs need no escaping.
func parseLoRASpec(s string) (loraSpec, error) {
	spec := loraSpec{source: s, weight: 1}
	if i := strings.LastIndex(s, ":"); i >= 0 {
		if w, err := strconv.ParseFloat(s[i+1:], 64); err == nil {
			if math.IsNaN(w) || math.IsInf(w, 0) {
				return spec, fmt.Errorf("--lora %q: weight %q is not a finite number", s, s[i+1:])
			}
			spec.source, spec.weight = s[:i], w
		}
	}
	if spec.source == "" {
		return spec, fmt.Errorf("--lora %q: want FILE[:WEIGHT] or hf://OWNER/REPO[/FILE][:WEIGHT]", s)
	}
	if hub.IsURL(spec.source) && strings.Count(strings.TrimPrefix(spec.source, hub.URLScheme), "/") == 1 {
		spec.source += "/" + defaultLoRAFile
	}
	return spec, nil
}

// loadLoRAs reads every --lora, downloading hf:// URLs through the Hub
// cache, into the set fused at load.
func loadLoRAs(ctx context.Context, specs []string, scale float64, progress io.Writer) (lora.Set, error) {
	set := lora.Set{Scale: scale}
	if math.IsNaN(scale) || math.IsInf(scale, 0) {
		return set, usagef("--lora-scale %g is not a finite number", scale)
	}
	var client *hub.Client
	for _, s := range specs {
		spec, err := parseLoRASpec(s)
		if err != nil {
			return set, usage(err)
		}
		path := spec.source
		if hub.IsURL(spec.source) {
			if client == nil {
				cfg := hub.ConfigFromEnv()
				cfg.Progress = hub.NewBar(progress)
				if client, err = hub.New(cfg); err != nil {
					return set, fmt.Errorf("opening the Hugging Face cache: %w", err)
				}
			}
			if path, _, err = client.DownloadURL(ctx, spec.source); err != nil {
				if errors.Is(err, hub.ErrOffline) {
					return set, fmt.Errorf("--lora %s is not cached and HF_HUB_OFFLINE is set: %w", spec.source, err)
				}
				return set, fmt.Errorf("--lora %s: %w", spec.source, err)
			}
		}
		b, err := os.ReadFile(filepath.Clean(path))
		if err != nil {
			return set, fmt.Errorf("--lora %s: %w", spec.source, err)
		}
		a, err := lora.Parse(spec.source, b)
		if err != nil {
			return set, err
		}
		set.Adapters = append(set.Adapters, lora.Weighted{Adapter: a, Weight: spec.weight})
	}
	return set, nil
}
