//go:build cuda

package cuda

import (
	"github.com/sanafarm/sanafarm/kernels"
)

// Row-wise ops over the last axis (src/norm.cu, src/softmax.cu): one
// thread block per row.

// LayerNorm normalizes over the last axis; dst may be x.
func (b *Backend) LayerNorm(dst, x *kernels.Tensor, eps float32) error {
	rows, d, err := kernels.CheckLayerNorm(dst, x)
	if err != nil {
		return err
	}
	const op = "layernorm"
	if err := b.device(op, dst, x); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	if err := fit32(op, d); err != nil {
		return err
	}
	return b.run(op, "layernorm", rowGrid(rows), rowBlock(d), 0,
		dst, dtypeCode(dst), x, int64(rows), int32(d), eps, (*kernels.Tensor)(nil), (*kernels.Tensor)(nil), int64(1))
}

// LayerNormModulate computes LayerNorm(x)·(1 + scale) + shift for x
// [B, N, D], shift and scale [B, D]; dst may be x.
func (b *Backend) LayerNormModulate(dst, x, shift, scale *kernels.Tensor, eps float32) error {
	nb, n, d, err := kernels.CheckLayerNormModulate(dst, x, shift, scale)
	if err != nil {
		return err
	}
	const op = "layernorm modulate"
	if err := b.device(op, dst, x, shift, scale); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, shift, scale); err != nil {
		return err
	}
	if dst.DType() != x.DType() { // a bf16 dst is never written in place
		if err := b.noAlias(op, dst, x); err != nil {
			return err
		}
	}
	if err := fit32(op, d); err != nil {
		return err
	}
	rows := nb * n
	if d == 0 {
		rows = 0
	}
	return b.run(op, "layernorm", rowGrid(rows), rowBlock(d), 0,
		dst, dtypeCode(dst), x, int64(rows), int32(d), eps, shift, scale, int64(max(n, 1)))
}

// RMSNorm computes x/√(mean(x²) + eps)·w (+ b) with optional w and b of
// any float dtype; dst may be x.
func (b *Backend) RMSNorm(dst, x, w, bias *kernels.Tensor, p kernels.NormParams) error {
	rows, d, err := kernels.CheckRMSNorm(dst, x, w, bias)
	if err != nil {
		return err
	}
	const op = "rmsnorm"
	if err := b.device(op, dst, x, w, bias); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, w, bias); err != nil {
		return err
	}
	if err := fit32(op, d); err != nil {
		return err
	}
	return b.run(op, "rmsnorm", rowGrid(rows), rowBlock(d), 0,
		dst, x, w, dtypeCode(w), bias, dtypeCode(bias), int64(rows), int32(d), p.Eps, boolArg(p.AddOne))
}

// Softmax normalizes the last axis with optional soft-capping and a mask
// broadcast from a suffix shape; dst may be x.
func (b *Backend) Softmax(dst, x, mask *kernels.Tensor, softCap float32) error {
	rows, t, maskRows, err := kernels.CheckSoftmax(dst, x, mask)
	if err != nil {
		return err
	}
	const op = "softmax"
	if err := b.device(op, dst, x, mask); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, mask); err != nil {
		return err
	}
	if err := fit32(op, t); err != nil {
		return err
	}
	return b.run(op, "softmax", rowGrid(rows), rowBlock(t), 0,
		dst, x, mask, int64(rows), int32(t), int64(max(maskRows, 1)), softCap)
}

// Reduce sums, averages or takes the maximum over the last axis.
func (b *Backend) Reduce(dst, x *kernels.Tensor, rop kernels.ReduceOp) error {
	rows, t, err := kernels.CheckReduce(dst, x, rop)
	if err != nil {
		return err
	}
	const op = "reduce"
	if err := b.device(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, x); err != nil {
		return err
	}
	if err := fit32(op, t); err != nil {
		return err
	}
	return b.run(op, "reduce_last", rowGrid(rows), rowBlock(t), 0, dst, x, int64(rows), int32(t), int32(rop))
}
