//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
)

// Alloc returns a zero-filled tensor in device memory. The memory comes
// from the backend's cache and is cleared by a memset queued on the stream,
// so it is zero for every later command on the stream.
func (b *Backend) Alloc(dt kernels.DType, shape ...int) (*kernels.Tensor, error) {
	if err := kernels.CheckAlloc(dt, shape); err != nil {
		return nil, err
	}
	t, err := kernels.NewDevice(dt, devMem{}, shape...)
	if err != nil {
		return nil, err
	}
	n := t.Len()
	if n > 0 && n > (1<<62)/dt.Size() {
		return nil, fmt.Errorf("cuda: alloc %v: too large", t)
	}
	err = b.with(func() error {
		d, err := b.newDevMem(n, dt.Size())
		if err != nil {
			return err
		}
		if n > 0 {
			if err := cu.MemsetD8Async(d.ptr(), 0, int64(d.bytes()), b.stream); err != nil {
				return fmt.Errorf("zeroing: %w", err)
			}
		}
		t, err = kernels.NewDevice(dt, d, shape...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cuda: alloc %v%v: %w", dt, shape, err)
	}
	return t, nil
}

// Copy copies src into dst (same shape) in any direction between host and
// this backend's memory, converting float dtypes (rounding to nearest
// even) and I32↔I64 (failing on I64 values that overflow I32).
// Host→device copies are queued on the stream (the driver stages pageable
// host memory before returning, so src may be reused at once);
// device→host copies wait for all queued work first.
func (b *Backend) Copy(dst, src *kernels.Tensor) error {
	if err := kernels.CheckCopy(dst, src); err != nil {
		return err
	}
	for _, t := range []*kernels.Tensor{dst, src} {
		if t.Dev != nil {
			if _, err := b.ptr(t); err != nil {
				return fmt.Errorf("cuda: copy %v to %v: %w", src, dst, err)
			}
		} else if err := kernels.RequireHost("copy", t); err != nil {
			return err
		}
	}
	var err error
	switch {
	case src.OnHost() && dst.OnHost():
		err = copyHost(dst, src)
	case src.OnHost():
		err = b.upload(dst, src)
	case dst.OnHost():
		err = b.download(dst, src)
	default:
		err = b.copyDevice(dst, src)
	}
	runtime.KeepAlive(dst)
	runtime.KeepAlive(src)
	if err != nil {
		return fmt.Errorf("cuda: copy %v to %v: %w", src, dst, err)
	}
	return nil
}

// upload copies a host tensor into device tensor dst, converting on the
// host first when the dtypes differ.
func (b *Backend) upload(dst, src *kernels.Tensor) error {
	h := src
	if src.DType() != dst.DType() {
		h = kernels.MustNew(dst.DType(), src.Shape()...)
		if err := copyHost(h, src); err != nil {
			return err
		}
	}
	p, n := hostBytes(h)
	if n == 0 {
		return nil
	}
	dp, err := b.ptr(dst)
	if err != nil {
		return err
	}
	return b.with(func() error {
		err := cu.MemcpyHtoDAsync(dp, p, int64(n), b.stream)
		runtime.KeepAlive(h)
		return err
	})
}

// download copies device tensor src into host tensor dst after all queued
// work has finished.
func (b *Backend) download(dst, src *kernels.Tensor) error {
	h := dst
	if src.DType() != dst.DType() {
		h = kernels.MustNew(src.DType(), src.Shape()...)
	}
	p, n := hostBytes(h)
	sp, err := b.ptr(src)
	if err != nil {
		return err
	}
	err = b.with(func() error {
		if err := b.syncLocked(); err != nil {
			return err
		}
		if n > 0 {
			if err := cu.MemcpyDtoHAsync(p, sp, int64(n), b.stream); err != nil {
				return err
			}
		}
		return b.syncLocked()
	})
	runtime.KeepAlive(h)
	if err != nil || h == dst {
		return err
	}
	return copyHost(dst, h)
}

// castKernels names the device conversion kernels (src/infra.cu).
var castKernels = map[[2]kernels.DType]string{
	{kernels.Float32, kernels.BFloat16}: "cast_f32_to_bf16",
	{kernels.BFloat16, kernels.Float32}: "cast_bf16_to_f32",
	{kernels.Float32, kernels.Float16}:  "cast_f32_to_f16",
	{kernels.Float16, kernels.Float32}:  "cast_f16_to_f32",
}

// copyDevice copies between two device tensors: same dtype by a stream
// memcpy, floats by cast kernels (half→half through f32 scratch, exact
// because widening is exact), integers through the host.
func (b *Backend) copyDevice(dst, src *kernels.Tensor) error {
	sd, dd := src.DType(), dst.DType()
	n := src.Len()
	if n == 0 {
		return nil
	}
	if overlap, same := b.overlap(dst, src); same && sd == dd {
		return nil
	} else if overlap {
		return fmt.Errorf("dst overlaps src")
	}
	if sd == dd {
		dp, err := b.ptr(dst)
		if err != nil {
			return err
		}
		sp, err := b.ptr(src)
		if err != nil {
			return err
		}
		return b.with(func() error {
			return cu.MemcpyDtoDAsync(dp, sp, int64(n*sd.Size()), b.stream)
		})
	}
	if !sd.IsFloat() { // I32↔I64: rare (ids); the host path has the range check
		h := kernels.MustNew(sd, src.Shape()...)
		if err := b.download(h, src); err != nil {
			return err
		}
		return b.upload(dst, h)
	}
	if name, ok := castKernels[[2]kernels.DType{sd, dd}]; ok {
		return b.launch(name, gridFor(n, 256), [3]uint32{256, 1, 1}, 0, dst, src, int64(n))
	}
	tmp, release, err := b.scratch(n * 4) // half → f32 → other half
	if err != nil {
		return err
	}
	defer release()
	if err := b.launch(castKernels[[2]kernels.DType{sd, kernels.Float32}], gridFor(n, 256), [3]uint32{256, 1, 1}, 0, tmp, src, int64(n)); err != nil {
		return err
	}
	return b.launch(castKernels[[2]kernels.DType{kernels.Float32, dd}], gridFor(n, 256), [3]uint32{256, 1, 1}, 0, dst, tmp, int64(n))
}

// hostBytes returns the address and byte length of a host tensor's
// elements.
func hostBytes(t *kernels.Tensor) (unsafe.Pointer, int) {
	switch {
	case len(t.F32()) > 0:
		return unsafe.Pointer(&t.F32()[0]), len(t.F32()) * 4
	case len(t.U16()) > 0:
		return unsafe.Pointer(&t.U16()[0]), len(t.U16()) * 2
	case len(t.I64()) > 0:
		return unsafe.Pointer(&t.I64()[0]), len(t.I64()) * 8
	case len(t.I32()) > 0:
		return unsafe.Pointer(&t.I32()[0]), len(t.I32()) * 4
	}
	return nil, 0
}

// copyHost converts between host tensors with the same rules as the CPU
// backend (float RNE narrowing, exact widening, checked I64→I32).
func copyHost(dst, src *kernels.Tensor) error {
	sd, dd := src.DType(), dst.DType()
	switch {
	case sd == dd:
		copy(dst.F32(), src.F32())
		copy(dst.U16(), src.U16())
		copy(dst.I64(), src.I64())
		copy(dst.I32(), src.I32())
	case sd == kernels.Int32:
		for i, v := range src.I32() {
			dst.I64()[i] = int64(v)
		}
	case sd == kernels.Int64:
		for i, v := range src.I64() {
			if int64(int32(v)) != v {
				return fmt.Errorf("src element %d = %d overflows I32", i, v)
			}
			dst.I32()[i] = int32(v)
		}
	default:
		copyHostFloat(dst, src)
	}
	return nil
}

// copyHostFloat converts between float host tensors of different dtypes.
func copyHostFloat(dst, src *kernels.Tensor) {
	sd, dd := src.DType(), dst.DType()
	at := func(i int) float32 {
		if sd == kernels.Float32 {
			return src.F32()[i]
		}
		return kernels.HalfToF32(sd, src.U16()[i])
	}
	n := src.Len()
	if dd == kernels.Float32 {
		out := dst.F32()
		for i := range n {
			out[i] = at(i)
		}
		return
	}
	out := dst.U16()
	for i := range n {
		out[i] = kernels.F32ToHalf(dd, at(i))
	}
}

// overlap reports whether two device tensors of this backend share any
// bytes, and whether they are exactly the same storage (in-place).
func (b *Backend) overlap(x, y *kernels.Tensor) (overlap, identical bool) {
	dx, okx := b.own(x)
	dy, oky := b.own(y)
	if !okx || !oky || dx.base == nil || dx.base != dy.base {
		return false, false
	}
	xlo, ylo := dx.off*dx.elem, dy.off*dy.elem
	xhi, yhi := xlo+dx.bytes(), ylo+dy.bytes()
	overlap = xlo < yhi && ylo < xhi
	return overlap, overlap && xlo == ylo && xhi == yhi
}

// Upload returns a device copy of host tensor t with the same dtype and
// shape (a device tensor of this backend is returned as is). Models load
// weights as host tensors; this moves them once instead of per op.
func (b *Backend) Upload(t *kernels.Tensor) (*kernels.Tensor, error) {
	if t == nil {
		return nil, nil
	}
	if _, ok := b.own(t); ok && t.Dev != nil {
		return t, nil
	}
	d, err := b.Alloc(t.DType(), t.Shape()...)
	if err != nil {
		return nil, err
	}
	if err := b.Copy(d, t); err != nil {
		return nil, err
	}
	return d, nil
}
