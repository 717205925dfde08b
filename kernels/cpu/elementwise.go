package cpu

import "github.com/sanafarm/sanafarm/kernels"

// Add computes dst = a + b with b repeating over a's leading dims.
func (b *Backend) Add(dst, a, bb *kernels.Tensor) error {
	return b.broadcast("add", dst, a, bb, func(o, x, y []float32) {
		for i := range o {
			o[i] = x[i] + y[i]
		}
	})
}

// Mul computes dst = a ⊙ b with b repeating over a's leading dims.
func (b *Backend) Mul(dst, a, bb *kernels.Tensor) error {
	return b.broadcast("mul", dst, a, bb, func(o, x, y []float32) {
		for i := range o {
			o[i] = x[i] * y[i]
		}
	})
}

// broadcast runs f on each repetition of bb inside a; when bb is large the
// work is split inside a repetition instead so both shapes parallelize.
func (b *Backend) broadcast(op string, dst, a, bb *kernels.Tensor, f func(o, x, y []float32)) error {
	reps, inner, err := kernels.CheckBroadcast(op, dst, a, bb)
	if err != nil {
		return err
	}
	if err := host(op, dst, a, bb); err != nil {
		return err
	}
	d, x, y := dst.F32(), a.F32(), bb.F32()
	if inner >= ewGrain {
		for r := range reps {
			o, xr := d[r*inner:(r+1)*inner], x[r*inner:(r+1)*inner]
			b.parallelFor(inner, ewGrain, func(lo, hi int) { f(o[lo:hi], xr[lo:hi], y[lo:hi]) })
		}
		return nil
	}
	b.parallelFor(reps, max(1, ewGrain/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			f(d[r*inner:(r+1)*inner], x[r*inner:(r+1)*inner], y)
		}
	})
	return nil
}

// Axpby computes dst = alpha·a + beta·b.
func (b *Backend) Axpby(dst, a, bb *kernels.Tensor, alpha, beta float32) error {
	n, err := kernels.CheckAxpby(dst, a, bb)
	if err != nil {
		return err
	}
	if err := host("axpby", dst, a, bb); err != nil {
		return err
	}
	d, x, y := dst.F32(), a.F32(), bb.F32()
	b.parallelFor(n, ewGrain, func(lo, hi int) {
		o, xs, ys := d[lo:hi], x[lo:hi], y[lo:hi]
		for i := range o {
			o[i] = alpha*xs[i] + beta*ys[i]
		}
	})
	return nil
}

// Modulate computes dst = x·(1 + scale) + shift per batch row.
func (b *Backend) Modulate(dst, x, shift, scale *kernels.Tensor) error {
	nb, n, d, err := kernels.CheckModulate(dst, x, shift, scale)
	if err != nil {
		return err
	}
	if err := host("modulate", dst, x, shift, scale); err != nil {
		return err
	}
	o, xs, sh, sc := dst.F32(), x.F32(), shift.F32(), scale.F32()
	b.parallelFor(nb*n, max(1, ewGrain/max(d, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			bi := r / n
			orow, xrow := o[r*d:(r+1)*d], xs[r*d:(r+1)*d]
			shr, scr := sh[bi*d:(bi+1)*d], sc[bi*d:(bi+1)*d]
			for i := range orow {
				orow[i] = xrow[i]*(1+scr[i]) + shr[i]
			}
		}
	})
	return nil
}

// GatedAdd computes dst = x + gate ⊙ y per batch row.
func (b *Backend) GatedAdd(dst, x, gate, y *kernels.Tensor) error {
	nb, n, d, err := kernels.CheckGatedAdd(dst, x, gate, y)
	if err != nil {
		return err
	}
	if err := host("gated add", dst, x, gate, y); err != nil {
		return err
	}
	o, xs, g, ys := dst.F32(), x.F32(), gate.F32(), y.F32()
	b.parallelFor(nb*n, max(1, ewGrain/max(d, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			bi := r / n
			orow, xrow, yrow := o[r*d:(r+1)*d], xs[r*d:(r+1)*d], ys[r*d:(r+1)*d]
			gRow := g[bi*d : (bi+1)*d]
			for i := range orow {
				orow[i] = xrow[i] + gRow[i]*yrow[i]
			}
		}
	})
	return nil
}
