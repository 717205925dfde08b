package dcae

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// Decode maps latents z [B, latent_channels, h, w] (NCHW, Float32, already
// divided by scaling_factor — the pipeline does that) to images [B,
// in_channels, h·32, w·32] (NCHW, Float32, unclamped, roughly in [−1, 1]).
func (m *Model) Decode(ctx context.Context, z *kernels.Tensor) (*kernels.Tensor, error) {
	if m.w.dec == nil {
		return nil, fmt.Errorf("dcae: decode: the decoder weights were not loaded")
	}
	if err := checkNCHW("dcae: decode: latents", z, m.cfg.LatentChannels); err != nil {
		return nil, err
	}
	if err := m.ready(); err != nil {
		return nil, fmt.Errorf("dcae: decode: %w", err)
	}
	z, err := kernels.Upload(m.be, z)
	if err != nil {
		return nil, fmt.Errorf("dcae: decode: latents: %w", err)
	}
	r := newRun(m.be)
	x := r.toNHWC(z)
	img := m.decodeNHWC(ctx, r, x)
	out := r.toNCHW(img)
	if r.err != nil {
		return nil, fmt.Errorf("dcae: decode %v: %w", z.Shape(), r.err)
	}
	return out, nil
}

// decodeNHWC runs the decoder on z [B, h, w, Cl] (freed) and returns the
// image [B, 32h, 32w, in_channels] as a pool temporary.
func (m *Model) decodeNHWC(ctx context.Context, r *run, z *kernels.Tensor) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	d := m.w.dec
	n := len(d.stages)
	B, h, w, Cl := z.Dim(0), z.Dim(1), z.Dim(2), z.Dim(3)
	C := d.stages[n-1].ch
	x := r.alloc(B, h, w, C)
	r.conv3(x, z, d.convIn, 1)
	m.emit(r, "intermediate.decoder.conv_in", x) // the module output, before the shortcut
	// In-shortcut: + each latent channel repeated C/Cl times (interleaved).
	if m.cfg.DecoderInShortcut {
		rep := r.alloc(B, h, w, C)
		r.do(func() error { return m.be.RepeatChannels(rep, z, C/Cl) })
		r.do(func() error { return m.be.Add(x, x, rep) })
		r.free(rep)
	}
	r.free(z)
	for i := n - 1; i >= 0; i-- { // stages run deepest first
		if err := ctx.Err(); err != nil && r.err == nil {
			r.err = err
		}
		st := &d.stages[i]
		if st.resample != nil {
			x = m.upBlock(r, x, st.resample, st.ch)
		}
		for _, l := range st.layers {
			m.layer(r, x, l)
		}
		m.emit(r, fmt.Sprintf("intermediate.decoder.up_blocks.%d", i), x)
	}
	return m.decoderHead(r, x)
}

// decoderHead is norm_out → conv_act (ReLU) → conv_out; x is freed.
func (m *Model) decoderHead(r *run, x *kernels.Tensor) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	d := m.w.dec
	r.do(func() error { return m.be.RMSNorm(x, x, d.normOut.w, d.normOut.b, kernels.NormParams{Eps: 1e-5}) })
	r.do(func() error { return m.be.Activate(x, x, d.convAct) })
	img := r.alloc(x.Dim(0), x.Dim(1), x.Dim(2), m.cfg.InChannels)
	r.conv3(img, x, d.convOut, 1)
	r.free(x)
	m.emit(r, "intermediate.decoder.conv_out", img)
	return img
}
