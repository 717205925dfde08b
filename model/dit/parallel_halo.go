package dit

import (
	"context"

	"github.com/sanafarm/sanafarm/kernels"
)

// mixFFNBands is the Mix-FFN of a band of nr rows: the depthwise 3×3 conv
// needs the expanded activations of the row above and below the band.
// Rather than exchanging those (2H channels), it exchanges the residual
// stream's edge rows (D channels, 5× fewer bytes) and recomputes norm,
// expand and SiLU for the one or two halo rows; the exchange overlaps the
// band's own expand GEMM. f is scratch [B, N, D].
func (m *Model) mixFFNBands(r *run, bl *block, hid, f *kernels.Tensor, mod [6]*kernels.Tensor, nr, w int) *kernels.Tensor {
	B, N, D, H := hid.Dim(0), hid.Dim(1), hid.Dim(2), m.cfg.Hidden()
	top, bot := m.edgeRows(r, hid, nr, w)
	ht, _ := r.hostF32(top)
	hb, _ := r.hostF32(bot)
	var fromPrev, fromNext []float32
	wait := r.start(func(ctx context.Context) error {
		var err error
		fromPrev, fromNext, err = m.par.comm.Exchange(ctx, ht.F32(), hb.F32())
		return err
	})
	u := m.expand(r, bl, hid, f, mod, B, N, D, H) // overlaps the exchange
	wait()
	if r.err != nil {
		return nil
	}
	parts := []*kernels.Tensor{u.MustReshape(B, nr, w, 2*H)}
	t0 := 0
	if fromPrev != nil {
		parts = append([]*kernels.Tensor{m.haloRow(r, bl, fromPrev, mod, B, w, D, H)}, parts...)
		t0 = 1
	}
	if fromNext != nil {
		parts = append(parts, m.haloRow(r, bl, fromNext, mod, B, w, D, H))
	}
	rows := nr + len(parts) - 1
	p := parts[0]
	if len(parts) > 1 {
		p = r.alloc(B, rows, w, 2*H)
		r.do(func() error { return m.be.Concat(p, 1, parts...) })
	}
	c := r.alloc(B, rows, w, 2*H)
	r.do(func() error {
		return m.be.Conv2D(c, p, bl.ffDepthW, bl.ffDepthB, kernels.ConvParams{Stride: 1, Pad: 1, Groups: 2 * H})
	})
	mid := m.middleRows(r, c, t0, nr)
	if r.err != nil {
		return nil
	}
	return m.ffnOut(r, bl, mid.MustReshape(B, N, 2*H), D)
}

// expand returns SiLU(conv_inverted(LayerNormModulate(x))) [B, N, 2H],
// using f [B, N, D] as scratch.
func (m *Model) expand(r *run, bl *block, x, f *kernels.Tensor, mod [6]*kernels.Tensor, B, N, D, H int) *kernels.Tensor {
	r.do(func() error { return m.be.LayerNormModulate(f, x, mod[3], mod[4], float32(m.cfg.NormEps)) })
	u := r.alloc(B, N, 2*H)
	r.linear(u, f, bl.ffIn)
	r.do(func() error { return m.be.Activate(u, u, kernels.ActSiLU) })
	return u
}

// haloRow expands a neighbour's residual row (host [B, w, D]) to
// [B, 1, w, 2H].
func (m *Model) haloRow(r *run, bl *block, row []float32, mod [6]*kernels.Tensor, B, w, D, H int) *kernels.Tensor {
	host, err := kernels.FromF32(row, B, w, D)
	if err == nil {
		host, err = kernels.Upload(m.be, host)
	}
	if err != nil {
		r.err = err
		return nil
	}
	u := m.expand(r, bl, host, r.alloc(B, w, D), mod, B, w, D, H)
	if u == nil {
		return nil
	}
	return u.MustReshape(B, 1, w, 2*H)
}

// edgeRows returns the first and last latent row [B, w, D] of the band
// hid [B, nr·w, D].
func (m *Model) edgeRows(r *run, hid *kernels.Tensor, nr, w int) (top, bot *kernels.Tensor) {
	B, D := hid.Dim(0), hid.Dim(2)
	if nr == 1 || r.err != nil {
		return hid, hid
	}
	top, bot = r.alloc(B, 1, w*D), r.alloc(B, 1, w*D)
	dsts := []*kernels.Tensor{top, bot}
	if nr > 2 {
		dsts = []*kernels.Tensor{top, r.alloc(B, nr-2, w*D), bot}
	}
	r.do(func() error { return m.be.Split(dsts, 1, hid.MustReshape(B, nr, w*D)) })
	if r.err != nil {
		return hid, hid
	}
	return top.MustReshape(B, w, D), bot.MustReshape(B, w, D)
}

// middleRows returns rows [t0, t0+nr) of c [B, rows, w, C].
func (m *Model) middleRows(r *run, c *kernels.Tensor, t0, nr int) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	B, rows, w, C := c.Dim(0), c.Dim(1), c.Dim(2), c.Dim(3)
	if rows == nr {
		return c
	}
	mid := r.alloc(B, nr, w, C)
	var dsts []*kernels.Tensor
	if t0 > 0 {
		dsts = append(dsts, r.alloc(B, t0, w, C))
	}
	dsts = append(dsts, mid)
	if after := rows - t0 - nr; after > 0 {
		dsts = append(dsts, r.alloc(B, after, w, C))
	}
	r.do(func() error { return m.be.Split(dsts, 1, c) })
	return mid
}
