package dit

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// This file exposes the pieces of the forward that SanaControlNetModel
// (package controlnet) runs on its trunk weights, and the hook through
// which its block samples reach the transformer.

// EmbedPatches maps NCHW latents x [B, C, h, w] to tokens [B, h·w, D] in
// the backend's memory (patch_embed, with the sin-cos PE when configured).
func (m *Model) EmbedPatches(ctx context.Context, x *kernels.Tensor) (*kernels.Tensor, error) {
	if x == nil || x.Rank() != 4 || x.Dim(1) != m.cfg.InChannels {
		return nil, fmt.Errorf("dit: latents %v, want [B, %d, h, w]", x, m.cfg.InChannels)
	}
	if err := m.ready(); err != nil {
		return nil, fmt.Errorf("dit: %w", err)
	}
	x, err := kernels.Upload(m.be, x)
	if err != nil {
		return nil, fmt.Errorf("dit: latents: %w", err)
	}
	r := &run{be: m.be, ctx: ctx}
	hid := m.embedPatches(r, x, x.Dim(2), x.Dim(3), 0)
	if r.err != nil {
		return nil, fmt.Errorf("dit: patch embedding: %w", r.err)
	}
	return hid, nil
}

// EmbedTime returns the block modulation vector tmod [B, 6D] of timesteps
// t (len B; no guidance embedding).
func (m *Model) EmbedTime(ctx context.Context, t []float32) (*kernels.Tensor, error) {
	if m.w.guideEmb != nil {
		return nil, fmt.Errorf("dit: EmbedTime on a model with a guidance embedding")
	}
	if err := m.ready(); err != nil {
		return nil, fmt.Errorf("dit: %w", err)
	}
	r := &run{be: m.be, ctx: ctx}
	_, tmod := m.embedTime(r, t, nil)
	if r.err != nil {
		return nil, fmt.Errorf("dit: timestep embedding: %w", r.err)
	}
	return tmod, nil
}

// WithControl returns a copy of cd whose Forward adds ControlNet block
// samples [B, h·w, D]: after block i (0-based) with 0 < i ≤ len(samples),
// hidden += samples[i−1], as SanaTransformer2DModel does with
// controlnet_block_samples (samples[0] after block 1; none after block 0).
func (cd *Cond) WithControl(samples []*kernels.Tensor) *Cond {
	c := *cd
	c.control = samples
	return &c
}

// checkControl validates cd's ControlNet samples against hidden states of
// B×N tokens.
func (m *Model) checkControl(cd *Cond, B, N int) error {
	if len(cd.control) == 0 {
		return nil
	}
	if m.sp() {
		return fmt.Errorf("dit: ControlNet samples are not supported under sequence parallelism")
	}
	for i, s := range cd.control {
		if s == nil || s.Rank() != 3 || s.Dim(0) != B || s.Dim(1) != N || s.Dim(2) != m.cfg.Dim() {
			return fmt.Errorf("dit: ControlNet sample %d is %v, want [%d %d %d]", i, s, B, N, m.cfg.Dim())
		}
	}
	return nil
}

// addControl adds the ControlNet sample due after block i to hid.
func (m *Model) addControl(r *run, i int, hid *kernels.Tensor, cd *Cond) {
	if i == 0 || i > len(cd.control) {
		return
	}
	r.do(func() error { return m.be.Add(hid, hid, cd.control[i-1]) })
}
