package dcae

import "github.com/sanafarm/sanafarm/kernels"

// layer runs one block in place on the NHWC stage tensor x.
func (m *Model) layer(r *run, x *kernels.Tensor, l layer) {
	if r.err != nil {
		return
	}
	if l.res != nil {
		m.resBlock(r, x, l.res)
		return
	}
	m.vitAttention(r, x, l.vit)
	m.glumbConv(r, x, l.vit)
}

// resBlock: x += RMSNorm(Conv3x3_nobias(act(Conv3x3(x) + b1))).
func (m *Model) resBlock(r *run, x *kernels.Tensor, b *resBlock) {
	t1 := r.alloc(x.Shape()...)
	r.conv3(t1, x, b.conv1, 1)
	r.do(func() error { return m.be.Activate(t1, t1, b.act) })
	t2 := r.alloc(x.Shape()...)
	r.conv3(t2, t1, b.conv2, 1)
	r.free(t1)
	r.addNorm(x, t2, b.norm)
	r.free(t2)
}

// glumbConv is the EfficientViT block's conv_out (GLUMBConv, expand 4):
// x += RMSNorm(point(value ⊙ SiLU(gate))) with [value, gate] =
// DW3x3(SiLU(inverted(x))).
func (m *Model) glumbConv(r *run, x *kernels.Tensor, b *vitBlock) {
	B, H, W, C := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	u := r.alloc(B, H, W, 8*C)
	r.linear(u, x, b.inv.w, b.inv.b)
	r.do(func() error { return m.be.Activate(u, u, kernels.ActSiLU) })
	u2 := r.alloc(B, H, W, 8*C)
	r.do(func() error {
		return m.be.Conv2D(u2, u, b.depth.w, b.depth.b, kernels.ConvParams{Stride: 1, Pad: 1, Groups: 8 * C})
	})
	r.free(u)
	g := r.alloc(B, H, W, 4*C)
	r.do(func() error { return m.be.GLU(g, u2, kernels.ActSiLU, false) })
	r.free(u2)
	y := r.alloc(B, H, W, C)
	r.linear(y, g, b.point, nil)
	r.free(g)
	r.addNorm(x, y, b.ffNorm)
	r.free(y)
}

// upBlock is DCUpBlock2d (interpolate, with shortcut) from x [B, h, w, Cin]
// to [B, 2h, 2w, Cout]: Conv3x3(nearest×2(x)) + PixelShuffle₂(repeat(x,
// 4·Cout/Cin)). x goes back to the pool.
func (m *Model) upBlock(r *run, x *kernels.Tensor, c *conv, cout int) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	B, H, W, Cin := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	u := r.alloc(B, 2*H, 2*W, Cin)
	r.do(func() error { return m.be.UpsampleNearest2x(u, x) })
	y := r.alloc(B, 2*H, 2*W, cout)
	r.conv3(y, u, *c, 1)
	r.free(u)
	rep := r.alloc(B, H, W, 4*cout)
	r.do(func() error { return m.be.RepeatChannels(rep, x, 4*cout/Cin) })
	r.free(x)
	s := r.alloc(B, 2*H, 2*W, cout)
	r.do(func() error { return m.be.PixelShuffle(s, rep, 2) })
	r.free(rep)
	r.do(func() error { return m.be.Add(y, y, s) })
	r.free(s)
	return y
}

// downBlock is DCDownBlock2d (strided conv, with shortcut) from x [B, H,
// W, Cin] (H, W even) to [B, H/2, W/2, Cout]: Conv3x3/2(x) + the mean of
// consecutive groups of 4·Cin/Cout channels of PixelUnshuffle₂(x). x goes
// back to the pool.
func (m *Model) downBlock(r *run, x *kernels.Tensor, c *conv, cout int) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	B, H, W, Cin := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	h, w := H/2, W/2
	y := r.alloc(B, h, w, cout)
	r.conv3(y, x, *c, 2)
	un := r.alloc(B, h, w, 4*Cin)
	r.do(func() error { return m.be.PixelUnshuffle(un, x, 2) })
	r.free(x)
	s := r.alloc(B, h, w, cout)
	r.do(func() error {
		return m.be.Reduce(s, un.MustReshape(B, h, w, cout, 4*Cin/cout), kernels.ReduceMean)
	})
	r.free(un)
	r.do(func() error { return m.be.Add(y, y, s) })
	r.free(s)
	return y
}
