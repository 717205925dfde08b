//go:build cuda

package cuda

import "github.com/sanafarm/sanafarm/kernels"

// MixFFNConv runs the fused Mix-FFN middle (src/conv.cu mixffn_conv): one
// pass reading the 2C-wide expansion and writing the C-wide gated output,
// where the unfused ops made four passes over the 2C-wide tensor (bias,
// SiLU, depthwise, GLU). u and dst may be bf16 activations, halving both.
func (b *Backend) MixFFNConv(dst, u, inBias, dwW, dwBias *kernels.Tensor) error {
	d, err := kernels.CheckMixFFNConv(dst, u, inBias, dwW, dwBias)
	if err != nil {
		return err
	}
	const op = "mix-ffn conv"
	if err := b.device(op, dst, u, inBias, dwW, dwBias); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, u, inBias, dwW, dwBias); err != nil {
		return err
	}
	if err := fit32(op, d.B, d.H, d.W, d.C); err != nil {
		return err
	}
	return b.runN(op, "mixffn_conv", dst.Len(), dst, dtypeCode(dst), u, dtypeCode(u), inBias, dtypeCode(inBias), dwW, dtypeCode(dwW),
		dwBias, dtypeCode(dwBias), int32(d.B), int32(d.H), int32(d.W), int32(d.C))
}
