package sana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/controlnet"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/weights"
)

// TinyControlNetFiles returns the files of a 1-block SanaControlNetModel
// folder (config.json, diffusion_pytorch_model.safetensors) that fits
// sana-tiny, with deterministic random weights; the projections diffusers
// zero-initialises are random too, so the ControlNet changes the image.
func TinyControlNetFiles() (map[string][]byte, error) {
	c := tinyDiT(false)
	c["_class_name"], c["num_layers"] = controlnet.ClassName, 1
	cfgJSON, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	var d dit.Config
	if err := weights.DecodeJSON(cfgJSON, &d); err != nil {
		return nil, fmt.Errorf("tiny controlnet config: %w", err)
	}
	d.ClassName = dit.ClassName
	ts, err := dit.RandomTensors(d, TinySeed+3)
	if err != nil {
		return nil, fmt.Errorf("tiny controlnet: %w", err)
	}
	for name := range ts {
		if strings.HasPrefix(name, "proj_out.") || name == "scale_shift_table" {
			delete(ts, name)
		}
	}
	D := d.Dim()
	seed := uint32(TinySeed)
	fill := func(shape ...int) *kernels.Tensor { // small deterministic values (an LCG)
		t := kernels.MustNew(kernels.Float32, shape...)
		for i := range t.F32() {
			seed = seed*1664525 + 1013904223
			t.F32()[i] = (float32(seed>>8)/float32(1<<24) - 0.5) / float32(D)
		}
		return t
	}
	for _, p := range []string{"input_block", "controlnet_blocks.0"} {
		ts[p+".weight"], ts[p+".bias"] = fill(D, D), fill(D)
	}
	var buf bytes.Buffer
	if err := weights.Write(&buf, ts, map[string]string{"format": "pt", "sanafarm": "sana-tiny-controlnet"}); err != nil {
		return nil, err
	}
	return map[string][]byte{"config.json": append(cfgJSON, '\n'), "diffusion_pytorch_model.safetensors": buf.Bytes()}, nil
}
