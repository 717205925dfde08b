//go:build cuda

package cuda

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// Conv2D convolves NHWC x with an OHWI weight w (any float dtype) plus an
// optional bias (src/conv.cu): a direct kernel for depthwise convolutions
// (Groups == Cin == Cout); cuBLAS for dense convolutions (im2col into
// scratch, in chunks of output pixels) and for 1×1 convolutions of any
// group count (the NHWC input already is the GEMM operand; one strided
// batched GEMM over groups); otherwise a tiled implicit GEMM per group
// that gathers the input patches on the fly.
func (b *Backend) Conv2D(dst, x, w, bias *kernels.Tensor, p kernels.ConvParams) error {
	d, err := kernels.CheckConv2D(dst, x, w, bias, p)
	if err != nil {
		return err
	}
	const op = "conv2d"
	if err := b.device(op, dst, x, w, bias); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, x, w, bias); err != nil {
		return err
	}
	if err := fit32(op, d.B*d.H*d.W, d.B*d.Ho*d.Wo, d.Cin, d.Cout, d.KH*d.KW*d.CinG); err != nil {
		return err
	}
	if dst.Len() == 0 {
		return nil
	}
	if d.Gr == d.Cin && d.Gr == d.Cout && d.Gr > 1 {
		return b.runN(op, "conv_depthwise", dst.Len(), dst, x, w, dtypeCode(w), bias, dtypeCode(bias),
			int32(d.B), int32(d.H), int32(d.W), int32(d.Cin), int32(d.Ho), int32(d.Wo),
			int32(d.KH), int32(d.KW), int32(d.Stride), int32(d.Pad))
	}
	pointwise := d.KH == 1 && d.KW == 1 && d.Stride == 1 && d.Pad == 0
	if d.Gr == 1 || pointwise {
		err := b.with(func() error { return b.convBLAS(d, dst, x, w, bias, pointwise) })
		if err != nil {
			return fmt.Errorf("cuda: %s %v * %v: %w", op, x, w, err)
		}
		return nil
	}
	if d.Gr > 65535 || ceilDiv(d.CoutG, 64) > 65535 {
		return notImplemented(op, "groups %d or channels per group %d exceed the grid limit", d.Gr, d.CoutG)
	}
	grid := [3]uint32{uint32(ceilDiv(d.B*d.Ho*d.Wo, 64)), uint32(ceilDiv(d.CoutG, 64)), uint32(d.Gr)}
	return b.run(op, "conv_gemm", grid, [3]uint32{256, 1, 1}, 0, dst, x, w, dtypeCode(w), bias, dtypeCode(bias),
		int32(d.B), int32(d.H), int32(d.W), int32(d.Cin), int32(d.Ho), int32(d.Wo), int32(d.Cout),
		int32(d.KH), int32(d.KW), int32(d.Gr), int32(d.Stride), int32(d.Pad))
}

// convColBudget bounds the im2col scratch of one chunk (floats, 256 MiB).
const convColBudget = 64 << 20

// convBLAS runs a dense or pointwise convolution as cuBLAS GEMMs:
// dstᵀ = W·colᵀ in cuBLAS' column-major terms, like MatMul. 16-bit
// weights are widened into scratch first. The caller is inside with.
func (b *Backend) convBLAS(d kernels.ConvDims, dst, x, w, bias *kernels.Tensor, pointwise bool) error {
	dp, xp, wp, err := b.ptrs3(dst, x, w)
	if err != nil {
		return err
	}
	blas, err := b.blasHandle()
	if err != nil {
		return err
	}
	k, m := d.KH*d.KW*d.CinG, d.B*d.Ho*d.Wo
	g := gemmArgs{transA: true, m: d.CoutG, k: k, a: uintptr(wp), lda: k, c: uintptr(dp), ldc: d.Cout,
		at: cudaR32F, bt: cudaR32F, ct: cudaR32F, alpha: 1}
	half := kernels.Float32 // the dtype both GEMM operands take on tensor cores
	if wd := w.DType(); wd.IsHalf() && b.cfg.FastMath {
		half = wd
		g.at, g.bt = cudaType(wd), cudaType(wd)
	} else if wd.IsHalf() {
		p, release, err := b.castScratch(wp, wd, kernels.Float32, d.Cout*k)
		if err != nil {
			return err
		}
		defer release()
		g.a = p
	}
	if pointwise { // x [M, Cin] is the operand; group g starts at channel g·CinG
		g.n, g.b, g.ldb = m, uintptr(xp), d.Cin
		if half != kernels.Float32 { // bf16 precision: x rounded to the weight dtype
			p, release, err := b.castScratch(xp, kernels.Float32, half, m*d.Cin)
			if err != nil {
				return err
			}
			defer release()
			g.b = p
		}
		if d.Gr > 1 {
			g.batch, g.strideA, g.strideB, g.strideC = d.Gr, int64(d.CoutG*k), int64(d.CinG), int64(d.CoutG)
		}
		if err := blas.gemm(g); err != nil {
			return err
		}
	} else if err := b.convIm2col(d, blas, g, x, half); err != nil {
		return err
	}
	if bias == nil {
		return nil
	}
	return b.launch("add_bias_rows_w", gridFor(m*d.Cout, 256), [3]uint32{256, 1, 1}, 0,
		dst, bias, dtypeCode(bias), int64(m), int64(d.Cout))
}

// convIm2col runs a dense convolution chunk by chunk of output pixels:
// im2col into one reused scratch buffer (stream order keeps the next
// chunk's im2col behind this chunk's GEMM), then one GEMM into the
// chunk's dst rows. g is the GEMM template from convBLAS.
func (b *Backend) convIm2col(d kernels.ConvDims, blas *cublas, g gemmArgs, x *kernels.Tensor, half kernels.DType) error {
	m := d.B * d.Ho * d.Wo
	chunk := max(1, min(m, convColBudget/g.k))
	col, release, err := b.scratch(chunk * g.k * half.Size())
	if err != nil {
		return err
	}
	defer release()
	kernel := map[kernels.DType]string{kernels.BFloat16: "im2col_bf16", kernels.Float16: "im2col_f16"}[half]
	if kernel == "" {
		kernel = "im2col"
	}
	dp := g.c
	for m0 := 0; m0 < m; m0 += chunk {
		rows := min(chunk, m-m0)
		if err := b.launch(kernel, gridFor(rows*g.k, 256), [3]uint32{256, 1, 1}, 0, col, x,
			int32(d.H), int32(d.W), int32(d.Cin), int32(d.Ho), int32(d.Wo), int32(d.KH), int32(d.KW),
			int32(d.Stride), int32(d.Pad), int64(m0), int64(rows)); err != nil {
			return err
		}
		g.n, g.b, g.ldb, g.c = rows, uintptr(col), g.k, dp+uintptr(m0*d.Cout*4)
		if err := blas.gemm(g); err != nil {
			return err
		}
	}
	return nil
}
