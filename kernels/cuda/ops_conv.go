//go:build cuda

package cuda

import (
	"github.com/sanafarm/sanafarm/kernels"
)

// Conv2D convolves NHWC x with an OHWI weight w (any float dtype) plus an
// optional bias (src/conv.cu): a direct kernel for depthwise convolutions
// (Groups == Cin == Cout), otherwise a tiled implicit GEMM per group that
// gathers the input patches on the fly.
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
	if d.Gr > 65535 || ceilDiv(d.CoutG, 64) > 65535 {
		return notImplemented(op, "groups %d or channels per group %d exceed the grid limit", d.Gr, d.CoutG)
	}
	grid := [3]uint32{uint32(ceilDiv(d.B*d.Ho*d.Wo, 64)), uint32(ceilDiv(d.CoutG, 64)), uint32(d.Gr)}
	return b.run(op, "conv_gemm", grid, [3]uint32{256, 1, 1}, 0, dst, x, w, dtypeCode(w), bias, dtypeCode(bias),
		int32(d.B), int32(d.H), int32(d.W), int32(d.Cin), int32(d.Ho), int32(d.Wo), int32(d.Cout),
		int32(d.KH), int32(d.KW), int32(d.Gr), int32(d.Stride), int32(d.Pad))
}
