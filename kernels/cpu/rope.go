package cpu

import (
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// RoPE rotates each head's pairs (i, i+Dh/2) of x by pos·Theta^(−2i/Dh),
// angles and their sin/cos in float64. The cos/sin table of one token is
// computed once and shared by all heads.
func (b *Backend) RoPE(dst, x, pos *kernels.Tensor, p kernels.RoPEParams) error {
	nb, t, h, dh, batched, err := kernels.CheckRoPE(dst, x, pos, p)
	if err != nil {
		return err
	}
	if err := host("rope", dst, x, pos); err != nil {
		return err
	}
	half := dh / 2
	invFreq := make([]float64, half)
	for i := range half {
		invFreq[i] = math.Pow(float64(p.Theta), -2*float64(i)/float64(dh))
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(nb*t, max(1, 4096/max(h*dh, 1)), func(lo, hi int) {
		cs := make([]float32, 2*half)
		for r := lo; r < hi; r++ {
			pi := r % t
			if batched {
				pi = r
			}
			ps := float64(posAt(pos, pi))
			for i, f := range invFreq {
				s, c := math.Sincos(ps * f)
				cs[i], cs[half+i] = float32(c), float32(s)
			}
			for hd := range h {
				off := r*h*dh + hd*dh
				ropeHead(o[off:off+dh], xs[off:off+dh], cs[:half], cs[half:])
			}
		}
	})
	return nil
}

// ropeHead rotates one head: (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin).
// o may be x.
func ropeHead(o, x, cos, sin []float32) {
	half := len(cos)
	x1, x2 := x[:half], x[half:2*half]
	o1, o2 := o[:half], o[half:2*half]
	sin = sin[:half]
	for i, c := range cos {
		a, bb := x1[i], x2[i]
		o1[i] = a*c - bb*sin[i]
		o2[i] = bb*c + a*sin[i]
	}
}

// posAt reads element i of an Int64 or Int32 index tensor.
func posAt(t *kernels.Tensor, i int) int64 {
	if t.DType() == kernels.Int64 {
		return t.I64()[i]
	}
	return int64(t.I32()[i])
}
