package cpu

import "github.com/sanafarm/sanafarm/kernels"

// Conv2D convolves NHWC x with an OHWI weight. Three strategies:
//   - depthwise (Groups == Cin == Cout): a direct kernel whose inner loops
//     run over contiguous channels (see depthwise.go);
//   - 1×1, stride 1, no padding: the NHWC buffer already is the GEMM's A
//     matrix (pixels × channels), one GEMM per group;
//   - anything else: im2col of a block of output pixels (taps × channels in
//     OHWI order, so a weight row is the matching GEMM column) and one
//     GEMM per group and block.
func (b *Backend) Conv2D(dst, x, w, bias *kernels.Tensor, p kernels.ConvParams) error {
	d, err := kernels.CheckConv2D(dst, x, w, bias, p)
	if err != nil {
		return err
	}
	if err := host("conv2d", dst, x, w, bias); err != nil {
		return err
	}
	bs := floatsOf(bias)
	switch {
	case d.Gr == d.Cin && d.Gr == d.Cout && d.Gr > 1:
		b.depthwise(d, dst.F32(), x.F32(), w, bs)
	case d.KH == 1 && d.KW == 1 && d.Stride == 1 && d.Pad == 0:
		pix := d.B * d.H * d.W
		xv := b.roundOperand(x.F32()[:pix*d.Cin], w.DType())
		for g := range d.Gr {
			b.linear(dst.F32()[g*d.CoutG:], xv[g*d.CinG:], pix, d.CoutG, d.CinG, d.Cin,
				groupWeight(w, g, d.CoutG, d.CinG), groupBias(bs, g, d.CoutG), d.Cout)
		}
	default:
		b.convIm2col(d, dst.F32(), x.F32(), w, bs)
	}
	return nil
}

// groupWeight is the transposed GEMM operand of group g's output channels
// (rows of k = kh·kw·Cin/g weights each).
func groupWeight(w *kernels.Tensor, g, coutG, k int) matB {
	off := g * coutG * k
	m := matB{dt: w.DType(), ld: k, trans: true}
	if w.DType() == kernels.Float32 {
		m.f32 = w.F32()[off:]
	} else {
		m.u16 = w.U16()[off:]
	}
	return m
}

// groupBias is the part of bias belonging to group g (nil stays nil).
func groupBias(bias []float32, g, coutG int) []float32 {
	if bias == nil {
		return nil
	}
	return bias[g*coutG : (g+1)*coutG]
}

// im2colBudget bounds one im2col block (floats). A block of at least
// ~128 pixels keeps the per-call packing of the weight small relative to
// the GEMM work.
const im2colBudget = 1 << 20

// convIm2col runs the general convolution block by block: im2col of up to
// pb output pixels (parallel), then a threaded GEMM per group.
func (b *Backend) convIm2col(d kernels.ConvDims, out, x []float32, w *kernels.Tensor, bias []float32) {
	kg := d.KH * d.KW * d.CinG
	total := d.B * d.Ho * d.Wo
	pb := max(16, min(512, im2colBudget/max(kg, 1)))
	col := make([]float32, min(pb, total)*kg)
	// Grouped 3×3-style convolutions stay float32, as on the GPU, whose
	// bf16 mode only covers the GEMM-backed dense and pointwise paths.
	round := d.Gr == 1 && b.roundsWith(w.DType())
	for p0 := 0; p0 < total; p0 += pb {
		rows := min(pb, total-p0)
		for g := range d.Gr {
			b.parallelFor(rows, 16, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					im2colPixel(d, col[r*kg:(r+1)*kg], x, p0+r, g)
					if round {
						roundHalfInPlace(col[r*kg:(r+1)*kg], w.DType())
					}
				}
			})
			b.linear(out[p0*d.Cout+g*d.CoutG:], col, rows, d.CoutG, kg, kg,
				groupWeight(w, g, d.CoutG, kg), groupBias(bias, g, d.CoutG), d.Cout)
		}
	}
}

// im2colPixel writes the kh·kw·Cin/g receptive field of output pixel p
// (group g) into dst in (ky, kx, c) order, zeros outside the image.
func im2colPixel(d kernels.ConvDims, dst, x []float32, p, g int) {
	ox := p % d.Wo
	oy := (p / d.Wo) % d.Ho
	bi := p / (d.Wo * d.Ho)
	for ky := range d.KH {
		iy := oy*d.Stride - d.Pad + ky
		for kx := range d.KW {
			seg := dst[(ky*d.KW+kx)*d.CinG : (ky*d.KW+kx+1)*d.CinG]
			ix := ox*d.Stride - d.Pad + kx
			if iy < 0 || iy >= d.H || ix < 0 || ix >= d.W {
				clear(seg)
				continue
			}
			off := ((bi*d.H+iy)*d.W+ix)*d.Cin + g*d.CinG
			copy(seg, x[off:off+d.CinG])
		}
	}
}
