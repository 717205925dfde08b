package dcae

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// Encode maps images img [B, in_channels, H, W] (NCHW, Float32, in
// [−1, 1]; H and W multiples of the compression factor) to latents [B,
// latent_channels, H/32, W/32]. The result is not multiplied by
// scaling_factor.
func (m *Model) Encode(ctx context.Context, img *kernels.Tensor) (*kernels.Tensor, error) {
	if m.w.enc == nil {
		return nil, fmt.Errorf("dcae: encode: the encoder weights were not loaded")
	}
	if err := checkNCHW("dcae: encode: image", img, m.cfg.InChannels); err != nil {
		return nil, err
	}
	if f := m.cfg.Compression(); img.Dim(2)%f != 0 || img.Dim(3)%f != 0 {
		return nil, fmt.Errorf("dcae: encode: image %v: height and width must be multiples of %d", img, f)
	}
	if err := m.ready(); err != nil {
		return nil, fmt.Errorf("dcae: encode: %w", err)
	}
	img, err := kernels.Upload(m.be, img)
	if err != nil {
		return nil, fmt.Errorf("dcae: encode: image: %w", err)
	}
	r := newRun(m.be)
	x := r.toNHWC(img)
	lat := m.encodeNHWC(ctx, r, x)
	out := r.toNCHW(lat)
	if r.err != nil {
		return nil, fmt.Errorf("dcae: encode %v: %w", img.Shape(), r.err)
	}
	return out, nil
}

// encodeNHWC runs the encoder on x [B, H, W, Cin] (freed) and returns the
// latent [B, H/32, W/32, Cl] as a pool temporary.
func (m *Model) encodeNHWC(ctx context.Context, r *run, img *kernels.Tensor) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	e := m.w.enc
	n := len(e.stages)
	B, H, W := img.Dim(0), img.Dim(1), img.Dim(2)
	x := r.alloc(B, H, W, e.stages[0].ch)
	r.conv3(x, img, e.convIn, 1)
	r.free(img)
	m.emit(r, "intermediate.encoder.conv_in", x)
	for i := range n {
		if err := ctx.Err(); err != nil && r.err == nil {
			r.err = err
		}
		st := &e.stages[i]
		for _, l := range st.layers {
			m.layer(r, x, l)
		}
		if st.resample != nil {
			x = m.downBlock(r, x, st.resample, e.stages[i+1].ch)
		}
		m.emit(r, fmt.Sprintf("intermediate.encoder.down_blocks.%d", i), x)
	}
	return m.encoderHead(r, x)
}

// encoderHead is conv_out plus the out-shortcut (mean over consecutive
// groups of C/Cl channels); x is freed.
func (m *Model) encoderHead(r *run, x *kernels.Tensor) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	B, h, w, C := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	Cl := m.cfg.LatentChannels
	lat := r.alloc(B, h, w, Cl)
	r.conv3(lat, x, m.w.enc.convOut, 1)
	m.emit(r, "intermediate.encoder.conv_out", lat) // the module output, before the shortcut
	if m.cfg.EncoderOutShortcut {
		s := r.alloc(B, h, w, Cl)
		r.do(func() error { return m.be.Reduce(s, x.MustReshape(B, h, w, Cl, C/Cl), kernels.ReduceMean) })
		r.do(func() error { return m.be.Add(lat, lat, s) })
		r.free(s)
	}
	r.free(x)
	return lat
}
