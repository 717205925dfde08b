//go:build cuda

package cuda

import (
	"fmt"
	"slices"

	"github.com/sanafarm/sanafarm/kernels"
)

// Elementwise ops (src/elementwise.cu). Every kernel computes output i
// from inputs at index i (plus broadcast operands), so in-place use is
// safe wherever the op doc allows it.

// Activate applies act elementwise; dst may be x.
func (b *Backend) Activate(dst, x *kernels.Tensor, act kernels.Act) error {
	n, err := kernels.CheckActivate(dst, x, act)
	if err != nil {
		return err
	}
	const op = "activate"
	if err := b.device(op, dst, x); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	return b.runN(op, "activate", n, dst, x, int64(n), int32(act))
}

// GLU computes dst [..., H] = value ⊙ act(gate) from the halves of x
// [..., 2H].
func (b *Backend) GLU(dst, x *kernels.Tensor, act kernels.Act, gateFirst bool) error {
	rows, h, err := kernels.CheckGLU(dst, x, act)
	if err != nil {
		return err
	}
	const op = "glu"
	if err := b.device(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, x); err != nil {
		return err
	}
	return b.runN(op, "glu", rows*h, dst, x, int64(rows), int64(h), int32(act), boolArg(gateFirst))
}

// Add computes dst = a + b with b's shape a suffix of a's.
func (b *Backend) Add(dst, a, bb *kernels.Tensor) error {
	return b.broadcast("add", "add_bcast", dst, a, bb)
}

// Mul computes dst = a ⊙ b with the same broadcasting as Add.
func (b *Backend) Mul(dst, a, bb *kernels.Tensor) error {
	return b.broadcast("mul", "mul_bcast", dst, a, bb)
}

// broadcast runs a suffix-broadcast binary kernel.
func (b *Backend) broadcast(op, kernel string, dst, a, bb *kernels.Tensor) error {
	reps, inner, err := kernels.CheckBroadcast(op, dst, a, bb)
	if err != nil && !broadcastAliasFalsePositive(dst, a, bb) {
		return err
	}
	if err != nil { // the valid device call CheckBroadcast misjudged
		reps, inner = a.Len()/max(bb.Len(), 1), bb.Len()
	}
	if err := b.device(op, dst, a, bb); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, a); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, bb); err != nil {
		return err
	}
	if b.identical(dst, bb) && !kernels.SameShape(a, bb) {
		return fmt.Errorf("cuda: %s: dst %v may not alias the broadcast operand b %v", op, dst, bb)
	}
	n := reps * inner
	return b.runN(op, kernel, n, dst, a, bb, int64(n), int64(inner))
}

// Axpby computes dst = alpha·a + beta·b; dst may alias a or b.
func (b *Backend) Axpby(dst, a, bb *kernels.Tensor, alpha, beta float32) error {
	n, err := kernels.CheckAxpby(dst, a, bb)
	if err != nil {
		return err
	}
	const op = "axpby"
	if err := b.device(op, dst, a, bb); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, a); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, bb); err != nil {
		return err
	}
	return b.runN(op, "axpby", n, dst, a, bb, alpha, beta, int64(n))
}

// Modulate computes dst = x·(1 + scale) + shift for x [B, N, D] and
// shift, scale [B, D]; dst may be x.
func (b *Backend) Modulate(dst, x, shift, scale *kernels.Tensor) error {
	nb, n, d, err := kernels.CheckModulate(dst, x, shift, scale)
	if err != nil {
		return err
	}
	const op = "modulate"
	if err := b.device(op, dst, x, shift, scale); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, shift, scale); err != nil {
		return err
	}
	total := nb * n * d
	return b.runN(op, "modulate", total, dst, x, shift, scale, int64(total), int64(n*d), int64(d))
}

// GatedAdd computes dst = x + gate ⊙ y for x, y [B, N, D] and gate [B, D];
// dst may be x (or y).
func (b *Backend) GatedAdd(dst, x, gate, y *kernels.Tensor) error {
	nb, n, d, err := kernels.CheckGatedAdd(dst, x, gate, y)
	if err != nil {
		return err
	}
	const op = "gated add"
	if err := b.device(op, dst, x, gate, y); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, y); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, gate); err != nil {
		return err
	}
	total := nb * n * d
	return b.runN(op, "gated_add", total, dst, x, gate, y, int64(total), int64(n*d), int64(d))
}

// broadcastAliasFalsePositive reports whether a failed CheckBroadcast was
// only its "dst may not alias the broadcast operand" rule misfiring on
// device tensors: it compares host storage ranges, which are empty (and so
// equal) for any two device tensors. Every other requirement is checked
// here again; the real device aliasing rule is applied by broadcast.
func broadcastAliasFalsePositive(dst, a, bb *kernels.Tensor) bool {
	for _, t := range []*kernels.Tensor{dst, a, bb} {
		if t == nil || t.Dev == nil || t.DType() != kernels.Float32 {
			return false
		}
	}
	sa, sb := a.Shape(), bb.Shape()
	if len(sb) > len(sa) || !slices.Equal(sa[len(sa)-len(sb):], sb) {
		return false
	}
	return kernels.SameShape(dst, a) && !kernels.SameShape(a, bb)
}
