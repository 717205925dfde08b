package sana

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/controlnet"
)

// ClassControlNetPipeline is diffusers' SanaControlNetPipeline: a Sana
// pipeline folder with a controlnet/ component.
const ClassControlNetPipeline = "SanaControlNetPipeline"

// DefaultControlScale is diffusers' controlnet_conditioning_scale default.
const DefaultControlScale = 1.0

// loadControlNet loads Options.ControlNet (a folder with config.json and
// diffusion_pytorch_model.safetensors) or, for a SanaControlNetPipeline
// folder, its controlnet/ component. It runs before loadVAE, which then
// also loads the encoder for the control image.
func (p *Pipeline) loadControlNet(fsys fs.FS, opts Options) error {
	src, origin := opts.ControlNet, opts.ControlNetOrigin
	if src == nil && p.class == ClassControlNetPipeline {
		sub, err := fs.Sub(fsys, "controlnet")
		if err != nil {
			return err
		}
		src, origin = sub, p.origin+"/controlnet"
	}
	if src == nil {
		return nil
	}
	if p.Sprint() {
		return fmt.Errorf("a ControlNet needs a standard Sana pipeline, not %s", p.class)
	}
	cfg, err := controlnet.ReadConfig(src, "config.json")
	if err != nil {
		return err
	}
	ck, name, err := p.open(src, ".", "diffusion_pytorch_model", opts.Variant)
	if err != nil {
		return fmt.Errorf("controlnet: %w", err)
	}
	w, err := controlnet.Load(cfg, ck, name)
	if err != nil {
		return err
	}
	p.control, p.controlOrigin = controlnet.New(cfg, w, p.be), origin
	return nil
}

// prepareControl encodes a request's control image: resized and
// centre-cropped to the generation size when it differs, 2x−1, DC-AE
// encoder, ·scaling_factor (one row, repeated per batch).
func (p *Pipeline) prepareControl(ctx context.Context, q *request) error {
	switch {
	case q.ControlImage == nil && p.control != nil:
		return fmt.Errorf("generate: the pipeline has a ControlNet (%s): the request needs a control image", p.controlOrigin)
	case q.ControlImage == nil:
		if q.ControlScale != 0 {
			return fmt.Errorf("generate: control scale %g without a control image", q.ControlScale)
		}
		return nil
	case p.control == nil:
		return fmt.Errorf("generate: a control image needs a ControlNet: load the pipeline with Options.ControlNet")
	case q.ControlScale < 0:
		return fmt.Errorf("generate: control scale %g must be >= 0", q.ControlScale)
	case q.PAG.on():
		return fmt.Errorf("generate: PAG and ControlNet together are not supported")
	}
	if q.ControlScale == 0 {
		q.ControlScale = DefaultControlScale
	}
	b := q.ControlImage.Bounds()
	h, w := b.Dy(), b.Dx()
	x, err := PreprocessImage(rgbBytes(q.ControlImage), h, w)
	if err != nil {
		return fmt.Errorf("generate: control image: %w", err)
	}
	if h != q.genH || w != q.genW {
		px := resizeAndCrop(x.F32(), 1, 3, h, w, q.genH, q.genW)
		if x, err = kernels.FromF32(px, 1, 3, q.genH, q.genW); err != nil {
			return err
		}
	}
	if q.control, err = EncodeControl(ctx, p.vae, x, 1); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return nil
}

// controlFor is the loop's Control for a batch of n samples (nil without
// a control image).
func (p *Pipeline) controlFor(q request, n int) *Control {
	if q.control == nil {
		return nil
	}
	return &Control{Net: p.control, Latents: repeatRows(q.control, n), Scale: float32(q.ControlScale)}
}
