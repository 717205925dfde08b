package kernels

import "fmt"

// OIHWToOHWI converts a PyTorch conv weight [Cout, Cin/g, kh, kw] into the
// OHWI layout [Cout, kh, kw, Cin/g] that Conv2D expects, so the input
// channels of one tap are contiguous like the NHWC activations. Any dtype;
// host tensors only (this runs once at load time). The result is a new
// tensor.
func OIHWToOHWI(w *Tensor) (*Tensor, error) {
	if w == nil {
		return nil, fmt.Errorf("kernels: oihw to ohwi: w is nil")
	}
	if err := RequireHost("oihw to ohwi", w); err != nil {
		return nil, err
	}
	if w.Rank() != 4 || !w.dtype.Valid() {
		return nil, fmt.Errorf("kernels: oihw to ohwi: w %v: want a rank-4 tensor [Cout Cin/g kh kw]", w)
	}
	o, i, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	out, err := New(w.dtype, o, kh, kw, i)
	if err != nil {
		return nil, fmt.Errorf("kernels: oihw to ohwi: %w", err)
	}
	// Source index ((a·I + c)·KH + y)·KW + x → destination ((a·KH + y)·KW + x)·I + c.
	move := func(dst, src int) {
		switch {
		case out.f32 != nil:
			out.f32[dst] = w.f32[src]
		case out.u16 != nil:
			out.u16[dst] = w.u16[src]
		case out.i64 != nil:
			out.i64[dst] = w.i64[src]
		case out.i32 != nil:
			out.i32[dst] = w.i32[src]
		}
	}
	for a := range o {
		for c := range i {
			for y := range kh {
				for x := range kw {
					move(((a*kh+y)*kw+x)*i+c, ((a*i+c)*kh+y)*kw+x)
				}
			}
		}
	}
	return out, nil
}
