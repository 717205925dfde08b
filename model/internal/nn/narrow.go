package nn

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// NarrowBF16 prepares the weight matrices of a model for a backend in
// kernels.PrecisionBF16 (see kernels.Precision): there the backend multiplies
// on tensor cores only when the weight is 16-bit and runs a float32 weight
// as TF32, so each host Float32 tensor *p in mats is replaced by a BFloat16
// copy, once, before Place uploads it (the float32 copy never reaches the
// device). Tensors already 16-bit (bf16 and fp16 checkpoints), nil ones and
// ones not on the host are left as they are. In any other precision it
// does nothing, so float32 runs stay bit-identical.
//
// The caller lists only the matrices of MatMul and dense or 1×1 Conv2D
// weights; biases, norm weights and tables stay Float32. A tensor listed
// through several pointers is converted once and stays shared; the old
// tensor itself is not modified (sharded weights share it).
func NarrowBF16(be kernels.Backend, mats []**kernels.Tensor) error {
	if kernels.PrecisionOf(be) != kernels.PrecisionBF16 {
		return nil
	}
	done := map[*kernels.Tensor]*kernels.Tensor{}
	for _, p := range mats {
		t := *p
		if t == nil || !t.OnHost() || t.DType() != kernels.Float32 {
			continue
		}
		h, ok := done[t]
		if !ok {
			var err error
			if h, err = t.ToHalf(kernels.BFloat16); err != nil {
				return fmt.Errorf("rounding weight %v to bf16 for %s: %w", t, be.Name(), err)
			}
			done[t] = h
		}
		*p = h
	}
	return nil
}
