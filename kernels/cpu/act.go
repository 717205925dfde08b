package cpu

import "github.com/sanafarm/sanafarm/kernels"

// Elementwise grains: below ~16K elements a goroutine costs more than the work.
const ewGrain = 1 << 14

// actSlice applies act to src into dst (same length; may be the same
// slice), with the vector kernels when simd.
func actSlice(dst, src []float32, act kernels.Act, simd bool) {
	dst = dst[:len(src)]
	switch act {
	case kernels.ActNone:
		copy(dst, src)
	case kernels.ActReLU:
		for i, v := range src {
			dst[i] = max(v, 0)
			if v != v { // keep NaN visible
				dst[i] = v
			}
		}
	case kernels.ActSiLU:
		i := 0
		if simd {
			i = siluSIMD(dst, src)
		}
		siluGo(dst, src, i)
	case kernels.ActGELUTanh:
		i := 0
		if simd {
			i = geluSIMD(dst, src)
		}
		geluGo(dst, src, i)
	}
}

// Activate applies act elementwise; dst may be x.
func (b *Backend) Activate(dst, x *kernels.Tensor, act kernels.Act) error {
	n, err := kernels.CheckActivate(dst, x, act)
	if err != nil {
		return err
	}
	if err := host("activate", dst, x); err != nil {
		return err
	}
	d, s := dst.F32(), x.F32()
	b.parallelFor(n, ewGrain, func(lo, hi int) { actSlice(d[lo:hi], s[lo:hi], act, b.simd) })
	return nil
}

// GLU computes dst[..., H] = value ⊙ act(gate) from the two halves of x.
func (b *Backend) GLU(dst, x *kernels.Tensor, act kernels.Act, gateFirst bool) error {
	rows, h, err := kernels.CheckGLU(dst, x, act)
	if err != nil {
		return err
	}
	if err := host("glu", dst, x); err != nil {
		return err
	}
	d, s := dst.F32(), x.F32()
	vOff, gOff := 0, h
	if gateFirst {
		vOff, gOff = h, 0
	}
	b.parallelFor(rows, max(1, ewGrain/max(h, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			out := d[r*h : (r+1)*h]
			in := s[r*2*h : (r+1)*2*h]
			actSlice(out, in[gOff:gOff+h], act, b.simd)
			val := in[vOff : vOff+h]
			i := 0
			if b.simd {
				i = mulSIMD(out, out, val)
			}
			for ; i < len(out); i++ {
				out[i] *= val[i]
			}
		}
	})
	return nil
}
