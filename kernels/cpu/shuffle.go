package cpu

import "github.com/sanafarm/sanafarm/kernels"

// PixelShuffle moves channel c·r² + a·r + bb of input pixel (i, j) to
// channel c of output pixel (r·i + a, r·j + bb), PyTorch's order.
func (b *Backend) PixelShuffle(dst, x *kernels.Tensor, r int) error {
	nb, h, w, c, err := kernels.CheckPixelShuffle(dst, x, r)
	if err != nil {
		return err
	}
	if err := host("pixel shuffle", dst, x); err != nil {
		return err
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(nb*h, 1, func(lo, hi int) {
		for row := lo; row < hi; row++ { // row = (batch, i)
			for j := range w {
				in := xs[(row*w+j)*c*r*r:]
				for a := range r {
					for bb := range r {
						op := ((row*r+a)*w*r + j*r + bb) * c
						orow := o[op : op+c]
						for ci := range orow {
							orow[ci] = in[ci*r*r+a*r+bb]
						}
					}
				}
			}
		}
	})
	return nil
}

// PixelUnshuffle is the inverse of PixelShuffle.
func (b *Backend) PixelUnshuffle(dst, x *kernels.Tensor, r int) error {
	nb, h, w, c, err := kernels.CheckPixelUnshuffle(dst, x, r)
	if err != nil {
		return err
	}
	if err := host("pixel unshuffle", dst, x); err != nil {
		return err
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(nb*h, 1, func(lo, hi int) {
		for row := lo; row < hi; row++ { // row = (batch, output i)
			for j := range w {
				out := o[(row*w+j)*c*r*r:]
				for a := range r {
					for bb := range r {
						ip := ((row*r+a)*w*r + j*r + bb) * c
						irow := xs[ip : ip+c]
						for ci, v := range irow {
							out[ci*r*r+a*r+bb] = v
						}
					}
				}
			}
		}
	})
	return nil
}

// UpsampleNearest2x doubles H and W by repeating each pixel 2×2.
func (b *Backend) UpsampleNearest2x(dst, x *kernels.Tensor) error {
	nb, h, w, c, err := kernels.CheckUpsampleNearest2x(dst, x)
	if err != nil {
		return err
	}
	if err := host("upsample nearest 2x", dst, x); err != nil {
		return err
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(nb*h, 1, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			top := o[(2*row)*2*w*c : (2*row+1)*2*w*c]
			for j := range w {
				px := xs[(row*w+j)*c : (row*w+j+1)*c]
				copy(top[2*j*c:], px)
				copy(top[(2*j+1)*c:], px)
			}
			copy(o[(2*row+1)*2*w*c:(2*row+2)*2*w*c], top)
		}
	})
	return nil
}

// RepeatChannels writes output channel k = input channel k/r.
func (b *Backend) RepeatChannels(dst, x *kernels.Tensor, r int) error {
	rows, c, err := kernels.CheckRepeatChannels(dst, x, r)
	if err != nil {
		return err
	}
	if err := host("repeat channels", dst, x); err != nil {
		return err
	}
	o, xs := dst.F32(), x.F32()
	b.parallelFor(rows, max(1, ewGrain/max(c*r, 1)), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			out := o[row*c*r : (row+1)*c*r]
			for k, v := range xs[row*c : (row+1)*c] {
				for t := range r {
					out[k*r+t] = v
				}
			}
		}
	})
	return nil
}

// copyElems copies n elements of src from soff into dst at doff (same
// dtype, any dtype).
func copyElems(dst *kernels.Tensor, doff int, src *kernels.Tensor, soff, n int) {
	switch dst.DType() {
	case kernels.Float32:
		copy(dst.F32()[doff:doff+n], src.F32()[soff:soff+n])
	case kernels.BFloat16, kernels.Float16:
		copy(dst.U16()[doff:doff+n], src.U16()[soff:soff+n])
	case kernels.Int64:
		copy(dst.I64()[doff:doff+n], src.I64()[soff:soff+n])
	case kernels.Int32:
		copy(dst.I32()[doff:doff+n], src.I32()[soff:soff+n])
	}
}

// Concat joins srcs along axis into dst (any one dtype).
func (b *Backend) Concat(dst *kernels.Tensor, axis int, srcs ...*kernels.Tensor) error {
	jd, err := kernels.CheckConcat(dst, axis, srcs...)
	if err != nil {
		return err
	}
	if err := host("concat", append([]*kernels.Tensor{dst}, srcs...)...); err != nil {
		return err
	}
	total := dst.Len() / max(jd.Outer, 1)
	for o := range jd.Outer {
		off := o * total
		for i, s := range srcs {
			n := jd.Sizes[i] * jd.Inner
			copyElems(dst, off, s, o*n, n)
			off += n
		}
	}
	return nil
}

// Split cuts src along axis into dsts.
func (b *Backend) Split(dsts []*kernels.Tensor, axis int, src *kernels.Tensor) error {
	jd, err := kernels.CheckSplit(dsts, axis, src)
	if err != nil {
		return err
	}
	if err := host("split", append([]*kernels.Tensor{src}, dsts...)...); err != nil {
		return err
	}
	total := src.Len() / max(jd.Outer, 1)
	for o := range jd.Outer {
		off := o * total
		for i, d := range dsts {
			n := jd.Sizes[i] * jd.Inner
			copyElems(d, o*n, src, off, n)
			off += n
		}
	}
	return nil
}

// Transpose swaps the last two axes (any dtype), in cache-sized tiles.
func (b *Backend) Transpose(dst, x *kernels.Tensor) error {
	nb, m, n, err := kernels.CheckTranspose(dst, x)
	if err != nil {
		return err
	}
	if err := host("transpose", dst, x); err != nil {
		return err
	}
	switch x.DType() {
	case kernels.Float32:
		transposeAll(b, dst.F32(), x.F32(), nb, m, n)
	case kernels.BFloat16, kernels.Float16:
		transposeAll(b, dst.U16(), x.U16(), nb, m, n)
	case kernels.Int64:
		transposeAll(b, dst.I64(), x.I64(), nb, m, n)
	case kernels.Int32:
		transposeAll(b, dst.I32(), x.I32(), nb, m, n)
	}
	return nil
}

// transposeAll transposes nb m×n matrices, parallel over (matrix, row tile).
func transposeAll[E any](b *Backend, dst, src []E, nb, m, n int) {
	const tile = 32
	mt := (m + tile - 1) / tile
	b.parallelFor(nb*mt, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			bi, i0 := t/mt, (t%mt)*tile
			s, d := src[bi*m*n:(bi+1)*m*n], dst[bi*m*n:(bi+1)*m*n]
			i1 := min(i0+tile, m)
			for j0 := 0; j0 < n; j0 += tile {
				j1 := min(j0+tile, n)
				for i := i0; i < i1; i++ {
					for j := j0; j < j1; j++ {
						d[j*m+i] = s[i*n+j]
					}
				}
			}
		}
	})
}
