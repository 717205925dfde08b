package sana

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
)

// PAG configures perturbed-attention guidance (diffusers'
// SanaPAGPipeline, docs/pag.md): a third branch runs the positive prompt
// with identity self-attention in Blocks, and the guided velocity gains
// Scale·(v_cond − v_perturbed).
type PAG struct {
	// Scale > 0 turns PAG on (pag_scale).
	Scale float32
	// AdaptiveScale (pag_adaptive_scale) lowers the scale over the
	// schedule: max(Scale − AdaptiveScale·(1000 − t), 0).
	AdaptiveScale float32
	// Blocks are the transformer blocks whose self-attention is perturbed
	// (pag_applied_layers "transformer_blocks.<i>").
	Blocks []int
}

func (p PAG) on() bool { return p.Scale > 0 }

func (p PAG) validate() error {
	switch {
	case p.Scale < 0:
		return fmt.Errorf("denoise: PAG scale %g must be >= 0", p.Scale)
	case p.AdaptiveScale < 0:
		return fmt.Errorf("denoise: PAG adaptive scale %g must be >= 0", p.AdaptiveScale)
	case p.on() && len(p.Blocks) == 0:
		return fmt.Errorf("denoise: PAG scale %g needs at least one PAG block", p.Scale)
	}
	return nil
}

// scaleAt is the PAG scale at scheduler timestep t, in float32 as torch
// computes it (t is a float32 tensor there).
func (p PAG) scaleAt(t float32) float32 {
	if !p.on() || p.AdaptiveScale == 0 {
		return p.Scale
	}
	return max(p.Scale-p.AdaptiveScale*(1000-t), 0)
}

// ModelStep is one step's transformer call as the PAG golden case records
// it: the batched input and timesteps, the raw output, and the guided
// velocity handed to the scheduler. Slices must not be kept.
type ModelStep struct {
	Index    int
	Input    *kernels.Tensor
	Timestep []float32
	Output   []float32
	Guided   []float32
	// Control holds the ControlNet's block samples (already scaled) of a
	// controlled loop, [B', h·w, D] each.
	Control [][]float32
}

// preparePAG appends the positive prompt again as the perturbed branch
// (diffusers' _prepare_perturbed_attention_guidance: [neg, pos, pos] or
// [pos, pos]) and marks its samples for identity attention.
func preparePAG(ctx context.Context, m Transformer, req DenoiseRequest, emb, mask *kernels.Tensor) (*dit.Cond, error) {
	emb, err := concat0(emb, req.PromptEmbeds)
	if err != nil {
		return nil, fmt.Errorf("denoise: PAG embeddings: %w", err)
	}
	if mask, err = concat0(mask, req.PromptMask); err != nil {
		return nil, fmt.Errorf("denoise: PAG masks: %w", err)
	}
	cd, err := m.PrepareCond(ctx, emb, mask)
	if err != nil {
		return nil, err
	}
	if cd.B != emb.Dim(0) { // a batch-split parallel model holds only its rows: "the last B" would be wrong
		return nil, fmt.Errorf("denoise: PAG needs the whole batch on one model; this transformer holds %d of %d samples", cd.B, emb.Dim(0))
	}
	return cd.WithPAG(req.PAG.Blocks, req.PromptEmbeds.Dim(0)), nil
}

// guide combines the copies branches of v ([uncond,] cond[, perturbed])
// in the order of diffusers' float32 ops: uncond + g·(cond − uncond), then
// + s·(cond − perturbed).
func guide(v []float32, copies int, cfg bool, g, s float32) []float32 {
	if copies == 1 {
		return v
	}
	n := len(v) / copies
	res := make([]float32, n)
	var u, c, p []float32
	switch {
	case cfg && copies == 3:
		u, c, p = v[:n], v[n:2*n], v[2*n:]
	case cfg:
		u, c = v[:n], v[n:]
	default:
		c, p = v[:n], v[n:]
	}
	for i := range res {
		x := c[i]
		if u != nil {
			x = u[i] + float32(g*float32(c[i]-u[i]))
		}
		if p != nil {
			x += float32(s * float32(c[i]-p[i]))
		}
		res[i] = x
	}
	return res
}

// DefaultPAGBlocks are the perturbed blocks when a request names none
// (diffusers' pag_applied_layers default "transformer_blocks.0").
var DefaultPAGBlocks = []int{0}

// pagDefaults validates a request's PAG settings against the pipeline.
func (p *Pipeline) pagDefaults(q *request) error {
	if q.PAG.on() && len(q.PAG.Blocks) == 0 {
		q.PAG.Blocks = DefaultPAGBlocks
		if len(p.pagBlocks) > 0 {
			q.PAG.Blocks = p.pagBlocks
		}
	}
	if err := q.PAG.validate(); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if !q.PAG.on() {
		q.PAG = PAG{}
		return nil
	}
	if p.Sprint() {
		return fmt.Errorf("generate: PAG scale %g: a Sprint pipeline has no PAG", q.PAG.Scale)
	}
	n := p.dit.Config().NumLayers
	for _, b := range q.PAG.Blocks {
		if b < 0 || b >= n {
			return fmt.Errorf("generate: PAG block %d out of range (the transformer has %d blocks)", b, n)
		}
	}
	return nil
}
