package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// submitInputs are submit's model inputs (docs/lora.md, docs/nvlabs.md,
// docs/pag.md, docs/controlnet.md):
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
	// PAG and ControlNet, named as generate names them.
	pagScale, pagAdaptive    float64
	pagLayers                []int
	controlnet, controlImage string
	controlColumn            string
	controlScale             float64
}

func (s *submitInputs) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&s.loras, "lora", nil, "LoRA adapter URL[:WEIGHT] (node path, file://, s3:// or hf://OWNER/REPO[/FILE]), fused at load (repeat for several)")
	fl.Float64Var(&s.loraScale, "lora-scale", 0, "global LoRA scale (default 1)")
	fl.StringVar(&s.initImage, "init-image", "", "PNG or JPEG input for image-to-image (Sprint models): node path, file://, s3:// or hf:// URL")
	fl.StringVar(&s.initColumn, "init-image-column", "", "column of the --prompts file holding each row's init image (path or URL), instead of --init-image")
	fl.Float64Var(&s.strength, "strength", 0, "image-to-image strength in (0, 1] (default 0.6)")
	fl.StringVar(&s.config, "config", "", "NVlabs YAML config (node path, file://, hf:// or builtin: URL), with --checkpoint instead of --model")
	fl.StringVar(&s.checkpoint, "checkpoint", "", "NVlabs .pth checkpoint (node path, file:// or hf:// URL), with --config")
	fl.Float64Var(&s.pagScale, "pag-scale", 0, "perturbed-attention guidance scale (0: off; docs/pag.md)")
	fl.Float64Var(&s.pagAdaptive, "pag-adaptive-scale", 0, "PAG scale decrease per timestep from 1000 (diffusers' pag_adaptive_scale)")
	fl.IntSliceVar(&s.pagLayers, "pag-layers", nil, "transformer blocks perturbed by PAG, e.g. 7,8 (default 0)")
	fl.StringVar(&s.controlnet, "controlnet", "", "SanaControlNetModel folder (node path, file://) or hf://OWNER/REPO; needs --control-image or --control-image-column (docs/controlnet.md)")
	fl.StringVar(&s.controlImage, "control-image", "", "PNG or JPEG control image for every sample: node path, file://, s3:// or hf:// URL")
	fl.StringVar(&s.controlColumn, "control-image-column", "", "column of the --prompts file holding each row's control image (path or URL), instead of --control-image")
	fl.Float64Var(&s.controlScale, "controlnet-scale", 0, "controlnet_conditioning_scale (default 1.0)")
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
	spec.PAGScale, spec.PAGAdaptiveScale, spec.PAGLayers = s.pagScale, s.pagAdaptive, s.pagLayers
	spec.ControlImageColumn, spec.ControlNetScale = s.controlColumn, s.controlScale
	var err error
	for _, f := range []struct {
		flag string
		v    string
		dst  *string
	}{{"--init-image", s.initImage, &spec.InitImage}, {"--config", s.config, &spec.Config}, {"--checkpoint", s.checkpoint, &spec.Checkpoint},
		{"--controlnet", s.controlnet, &spec.ControlNet}, {"--control-image", s.controlImage, &spec.ControlImage}} {
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

// uploadPrompts stores a local prompt file in the job's output store
// under protocol.InputKey (content-addressed: <output>/_inputs/<sha256>.<ext>;
// an identical earlier upload is reused), and its index's fine level
// beside it, and returns the source naming it, so that nodes never need
// a path on the submitting machine. The
// upload must be the indexed bytes: a file that changed since it was
// indexed is an error, not a job over rows it does not have.
func uploadPrompts(ctx context.Context, src protocol.PromptSource, fine []byte, output string, stderr io.Writer) (protocol.PromptSource, error) {
	path, err := storage.LocalPath(src.URL)
	if err != nil {
		return src, err
	}
	format, err := storage.PromptFormat(src)
	if err != nil {
		return src, err
	}
	f, err := os.Open(path)
	if err != nil {
		return src, fmt.Errorf("uploading prompts: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return src, fmt.Errorf("uploading prompts: hashing %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if src.Index != nil && size != src.Index.Size {
		return src, fmt.Errorf("uploading prompts: %s changed while it was read (%d bytes, indexed %d)", path, size, src.Index.Size)
	}
	store, err := storage.Open(ctx, output)
	if err != nil {
		return src, fmt.Errorf("uploading prompts to the output %s: %w", output, err)
	}
	defer store.Close()
	key := protocol.InputKey(sum, format)
	if info, err := store.Stat(ctx, key); err != nil || info.SHA256 != sum {
		fmt.Fprintf(stderr, "uploading %s (%d bytes) to %s/%s\n", path, size, strings.TrimSuffix(output, "/"), key)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return src, fmt.Errorf("uploading prompts: %w", err)
		}
		info, err := store.PutObject(ctx, key, f, storage.PutOptions{ContentType: promptContentType[format]})
		if err != nil {
			return src, fmt.Errorf("uploading prompts to %s: %w", output, err)
		}
		if info.SHA256 != sum {
			return src, fmt.Errorf("uploading prompts: %s changed while it was uploaded", path)
		}
	}
	if err := putFineIndex(ctx, store, key, src.Index, fine); err != nil {
		return src, err
	}
	src.URL, src.Format = strings.TrimSuffix(output, "/")+"/"+key, format
	return src, nil
}

// promptContentType is recorded with an uploaded prompt file (S3).
var promptContentType = map[string]string{
	storage.FormatTXT: "text/plain; charset=utf-8", storage.FormatJSONL: "application/jsonl",
	storage.FormatCSV: "text/csv; charset=utf-8", storage.FormatParquet: "application/vnd.apache.parquet",
}

// putFineIndex stores the index's fine level at key +
// protocol.FineIndexSuffix (written again each time: it is small and the
// same for the same input), or clears idx.Fine when there is none.
func putFineIndex(ctx context.Context, store storage.Store, key string, idx *protocol.PromptIndex, fine []byte) error {
	if idx == nil {
		return nil
	}
	if len(fine) == 0 || idx.Fine == 0 {
		idx.Fine = 0
		return nil
	}
	if _, err := store.PutObject(ctx, key+protocol.FineIndexSuffix, bytes.NewReader(fine),
		storage.PutOptions{ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("uploading the prompt index: %w", err)
	}
	return nil
}
