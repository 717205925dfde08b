// Package controlnet implements diffusers' SanaControlNetModel: a copy of
// the first transformer blocks that reads the control image's latent
// through a zero-initialised input projection and hands one sample per
// block, through zero-initialised output projections times the
// conditioning scale, to the transformer (dit.Cond.WithControl;
// docs/controlnet.md).
package controlnet

import (
	"context"
	"fmt"
	"io/fs"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/internal/nn"
	"github.com/sanafarm/sanafarm/model/weights"
)

// ClassName is the diffusers class this package implements.
const ClassName = "SanaControlNetModel"

// ReadConfig reads a ControlNet config.json. Its keys are those of the
// transformer's config (no guidance embedding, no qk-norm in diffusers'
// class), so it is returned as a dit.Config.
func ReadConfig(fsys fs.FS, name string) (dit.Config, error) {
	var c dit.Config
	if err := weights.ReadConfig(fsys, name, &c); err != nil {
		return c, err
	}
	if c.ClassName != "" && c.ClassName != ClassName {
		return c, fmt.Errorf("controlnet config %s: _class_name = %s (want %s)", name, c.ClassName, ClassName)
	}
	c.ClassName = dit.ClassName
	if c.GuidanceEmbeds || c.QKNorm != nil {
		return c, fmt.Errorf("controlnet config %s: guidance_embeds/qk_norm are not part of %s", name, ClassName)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("controlnet config %s: %w", name, err)
	}
	return c, nil
}

type linear struct{ w, b *kernels.Tensor }

// Weights are the bound tensors of one ControlNet.
type Weights struct {
	trunk  *dit.Weights // patch/time/caption embeddings and the blocks
	input  linear       // input_block: Linear D→D on the embedded control latent
	blocks []linear     // controlnet_blocks.<i>: Linear D→D per block
}

// Load binds every tensor the config requires from src, reporting all
// missing or mis-shaped ones at once.
func Load(c dit.Config, src weights.Source, origin string) (*Weights, error) {
	trunk, err := dit.LoadTrunk(c, src, origin)
	if err != nil {
		return nil, err
	}
	l := weights.NewLoader(src, origin)
	D := c.Dim()
	lin := func(p string) linear { return linear{w: l.Get(p+".weight", D, D), b: l.GetF32(p+".bias", D)} }
	w := &Weights{trunk: trunk, input: lin("input_block")}
	for i := range c.NumLayers {
		w.blocks = append(w.blocks, lin(fmt.Sprintf("controlnet_blocks.%d", i)))
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	return w, nil
}

// Model is a loaded ControlNet bound to a backend; its methods may be
// called from several goroutines.
type Model struct {
	cfg   dit.Config
	trunk *dit.Model
	w     *Weights
	be    kernels.Backend

	placeOnce sync.Once
	placeErr  error
}

// New returns a ControlNet computing with be.
func New(cfg dit.Config, w *Weights, be kernels.Backend) *Model {
	return &Model{cfg: cfg, trunk: dit.New(cfg, w.trunk, be), w: w, be: be}
}

// Config returns the model's config.
func (m *Model) Config() dit.Config { return m.cfg }

// PrepareCond projects the caption as the transformer does, with the
// ControlNet's own caption projection and cross-attention weights.
func (m *Model) PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*dit.Cond, error) {
	return m.trunk.PrepareCond(ctx, enc, mask)
}

// Control runs the ControlNet on latents x [B, C, h, w] with the control
// latent cond (same shape) at timesteps t, and returns its block samples
// [B, h·w, D] (in the backend's memory), each times scale:
// x = patch_embed(x) + input_block(patch_embed(cond)), then per block
// h_i → controlnet_blocks[i](h_i)·scale.
func (m *Model) Control(ctx context.Context, x, cond *kernels.Tensor, t []float32, cd *dit.Cond, scale float32) ([]*kernels.Tensor, error) {
	if x == nil || cond == nil || !kernels.SameShape(x, cond) {
		return nil, fmt.Errorf("controlnet: latents %v and control latents %v differ in shape", x, cond)
	}
	m.placeOnce.Do(m.place)
	if m.placeErr != nil {
		return nil, fmt.Errorf("controlnet: %w", m.placeErr)
	}
	hid, err := m.trunk.EmbedPatches(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("controlnet: %w", err)
	}
	c, err := m.trunk.EmbedPatches(ctx, cond)
	if err != nil {
		return nil, fmt.Errorf("controlnet: control latents: %w", err)
	}
	B, N, D, h, w := hid.Dim(0), hid.Dim(1), hid.Dim(2), x.Dim(2), x.Dim(3)
	r := &run{be: m.be}
	ci := r.alloc(B, N, D)
	r.do(func() error { return m.be.MatMul(ci, c, m.w.input.w, m.w.input.b) })
	r.do(func() error { return m.be.Add(hid, hid, ci) })
	sc := r.scaleVec(D, scale)
	if r.err != nil {
		return nil, fmt.Errorf("controlnet: input block: %w", r.err)
	}
	tmod, err := m.trunk.EmbedTime(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("controlnet: %w", err)
	}
	out := make([]*kernels.Tensor, len(m.w.blocks))
	for i, bl := range m.w.blocks {
		if err := m.trunk.RunBlock(ctx, i, hid, tmod, cd, h, w); err != nil {
			return nil, fmt.Errorf("controlnet: block %d: %w", i, err)
		}
		s := r.alloc(B, N, D)
		r.do(func() error { return m.be.MatMul(s, hid, bl.w, bl.b) })
		r.do(func() error { return m.be.Mul(s, s, sc) })
		out[i] = s
	}
	if r.err != nil {
		return nil, fmt.Errorf("controlnet: output blocks: %w", r.err)
	}
	return out, nil
}

// run records the first error of a sequence of backend calls.
type run struct {
	be  kernels.Backend
	err error
}

// place moves the projections into the backend's memory, their matrices
// rounded to bf16 first when the backend runs in kernels.PrecisionBF16
// (m.trunk places, and rounds, the trunk's own weights).
func (m *Model) place() {
	ms := []**kernels.Tensor{&m.w.input.w}
	for i := range m.w.blocks {
		ms = append(ms, &m.w.blocks[i].w)
	}
	if m.placeErr = nn.NarrowBF16(m.be, ms); m.placeErr != nil {
		return
	}
	if m.placeErr = nn.Place(m.be, &m.w.input); m.placeErr == nil {
		m.placeErr = nn.Place(m.be, &m.w.blocks)
	}
}

func (r *run) alloc(shape ...int) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	t, err := r.be.Alloc(kernels.Float32, shape...)
	r.err = err
	return t
}

func (r *run) do(f func() error) {
	if r.err == nil {
		r.err = f()
	}
}

// scaleVec is [D] filled with s in the backend's memory: Mul by it is
// torch's single `* conditioning_scale` rounding.
func (r *run) scaleVec(D int, s float32) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	v := kernels.MustNew(kernels.Float32, D)
	for i := range v.F32() {
		v.F32()[i] = s
	}
	d, err := kernels.Upload(r.be, v)
	r.err = err
	return d
}
