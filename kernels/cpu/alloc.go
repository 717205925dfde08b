package cpu

import "github.com/sanafarm/sanafarm/kernels"

// Alloc returns a zero-filled host tensor.
func (b *Backend) Alloc(dt kernels.DType, shape ...int) (*kernels.Tensor, error) {
	if err := kernels.CheckAlloc(dt, shape); err != nil {
		return nil, err
	}
	return kernels.New(dt, shape...)
}

// Copy copies src into dst, converting between float dtypes (rounding to
// nearest even when narrowing) or between integer dtypes.
func (b *Backend) Copy(dst, src *kernels.Tensor) error {
	if err := kernels.CheckCopy(dst, src); err != nil {
		return err
	}
	if err := host("copy", dst, src); err != nil {
		return err
	}
	sd, dd := src.DType(), dst.DType()
	switch {
	case sd == dd:
		copy(dst.F32(), src.F32())
		copy(dst.U16(), src.U16())
		copy(dst.I64(), src.I64())
		copy(dst.I32(), src.I32())
	case dd == kernels.Float32:
		halfSliceToF32(dst.F32(), sd, src.U16())
	case sd == kernels.Float32:
		out := dst.U16()
		b.parallelFor(len(out), 1<<15, func(lo, hi int) {
			for i, f := range src.F32()[lo:hi] {
				out[lo+i] = kernels.F32ToHalf(dd, f)
			}
		})
	case dd.IsHalf(): // half → other half, via the exact float32 value
		out := dst.U16()
		for i, h := range src.U16() {
			out[i] = kernels.F32ToHalf(dd, kernels.HalfToF32(sd, h))
		}
	case dd == kernels.Int64:
		out := dst.I64()
		for i, v := range src.I32() {
			out[i] = int64(v)
		}
	default:
		return copyI64ToI32(dst, src)
	}
	return nil
}

// copyI64ToI32 narrows ids, failing on values that do not fit.
func copyI64ToI32(dst, src *kernels.Tensor) error {
	out := dst.I32()
	for i, v := range src.I64() {
		if int64(int32(v)) != v {
			return errorf("copy: src %v element %d = %d overflows I32", src, i, v)
		}
		out[i] = int32(v)
	}
	return nil
}
