package cpu

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// MixFFNConv composes the CPU's own bias add, SiLU, depthwise convolution
// and GLU (see kernels.Backend): on the CPU the separate ops are already
// SIMD and cache-blocked, so the composition is both the reference and
// the fast path; the fusion pays on GPUs, where each pass is a trip
// through device memory.
func (b *Backend) MixFFNConv(dst, u, inBias, dwW, dwBias *kernels.Tensor) error {
	d, err := kernels.CheckMixFFNConv(dst, u, inBias, dwW, dwBias)
	if err != nil {
		return err
	}
	if u.DType() == kernels.BFloat16 || dst.DType() == kernels.BFloat16 {
		return b.mixFFNConvBF16(dst, u, inBias, dwW, dwBias)
	}
	a := kernels.MustNew(kernels.Float32, u.Shape()...)
	src := u // SiLU reads u directly when there is no bias to add
	if inBias != nil {
		ib, err := inBias.ToF32() // Add takes a float32 operand
		if err != nil {
			return fmt.Errorf("mix-ffn conv: %w", err)
		}
		if err := b.Add(a, u, ib); err != nil {
			return fmt.Errorf("mix-ffn conv: %w", err)
		}
		src = a
	}
	if err := b.Activate(a, src, kernels.ActSiLU); err != nil {
		return fmt.Errorf("mix-ffn conv: %w", err)
	}
	c := kernels.MustNew(kernels.Float32, u.Shape()...)
	err = b.Conv2D(c, a, dwW, dwBias, kernels.ConvParams{Stride: 1, Pad: 1, Groups: 2 * d.C})
	if err != nil {
		return fmt.Errorf("mix-ffn conv: %w", err)
	}
	if err := b.GLU(dst, c, kernels.ActSiLU, false); err != nil {
		return fmt.Errorf("mix-ffn conv: %w", err)
	}
	return nil
}

// mixFFNConvBF16 is MixFFNConv with bf16 activations: u widened exactly,
// the float32 composition, dst rounded once.
func (b *Backend) mixFFNConvBF16(dst, u, inBias, dwW, dwBias *kernels.Tensor) error {
	uf, err := u.ToF32()
	if err != nil {
		return fmt.Errorf("mix-ffn conv: %w", err)
	}
	out := dst
	if dst.DType() == kernels.BFloat16 {
		out = kernels.MustNew(kernels.Float32, dst.Shape()...)
	}
	if err := b.MixFFNConv(out, uf, inBias, dwW, dwBias); err != nil {
		return err
	}
	if dst.DType() == kernels.BFloat16 {
		b.narrowBF16(dst.U16(), out.F32())
	}
	return nil
}
