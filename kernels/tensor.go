package kernels

import (
	"fmt"
	"math"
	"slices"
)

// Tensor is a dense, contiguous, row-major n-dimensional array.
//
// Host tensors keep their elements in exactly one of the typed slices (F32
// for Float32, U16 for BFloat16/Float16 bit patterns, I64, I32). A backend
// that owns device memory stores its handle in Dev and leaves the slices
// nil. Views (Reshape, Slice) share storage with their parent.
type Tensor struct {
	dtype DType
	shape []int

	f32 []float32
	u16 []uint16
	i64 []int64
	i32 []int32

	// Dev is a backend's handle to device memory (nil for host tensors).
	Dev DeviceMem
}

// DeviceMem is device storage owned by a backend. Slice returns a view of
// n elements starting at element off, used for leading-dimension views.
type DeviceMem interface {
	Slice(off, n int) DeviceMem
}

// New allocates a zero-filled host tensor.
func New(dt DType, shape ...int) (*Tensor, error) {
	n, err := numel(shape)
	if err != nil {
		return nil, err
	}
	t := &Tensor{dtype: dt, shape: slices.Clone(shape)}
	switch dt {
	case Float32:
		t.f32 = make([]float32, n)
	case BFloat16, Float16:
		t.u16 = make([]uint16, n)
	case Int64:
		t.i64 = make([]int64, n)
	case Int32:
		t.i32 = make([]int32, n)
	default:
		return nil, fmt.Errorf("kernels: new tensor: unknown dtype %v", dt)
	}
	return t, nil
}

// MustNew is New for shapes known to be valid (tests, constants); it panics
// on a negative dimension or unknown dtype.
func MustNew(dt DType, shape ...int) *Tensor {
	t, err := New(dt, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

// FromF32 wraps data (not copied) as a Float32 tensor of the given shape.
func FromF32(data []float32, shape ...int) (*Tensor, error) {
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return &Tensor{dtype: Float32, shape: slices.Clone(shape), f32: data}, nil
}

// FromU16 wraps 16-bit float bit patterns (not copied) as a BFloat16 or
// Float16 tensor.
func FromU16(dt DType, data []uint16, shape ...int) (*Tensor, error) {
	if !dt.IsHalf() {
		return nil, fmt.Errorf("kernels: from u16: dtype %v is not a 16-bit float", dt)
	}
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return &Tensor{dtype: dt, shape: slices.Clone(shape), u16: data}, nil
}

// FromI64 wraps data (not copied) as an Int64 tensor.
func FromI64(data []int64, shape ...int) (*Tensor, error) {
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return &Tensor{dtype: Int64, shape: slices.Clone(shape), i64: data}, nil
}

// FromI32 wraps data (not copied) as an Int32 tensor.
func FromI32(data []int32, shape ...int) (*Tensor, error) {
	if err := checkLen(len(data), shape); err != nil {
		return nil, err
	}
	return &Tensor{dtype: Int32, shape: slices.Clone(shape), i32: data}, nil
}

// NewDevice describes device storage owned by a backend.
func NewDevice(dt DType, mem DeviceMem, shape ...int) (*Tensor, error) {
	if _, err := numel(shape); err != nil {
		return nil, err
	}
	if !dt.Valid() {
		return nil, fmt.Errorf("kernels: new device tensor: unknown dtype %v", dt)
	}
	return &Tensor{dtype: dt, shape: slices.Clone(shape), Dev: mem}, nil
}

func numel(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("kernels: negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("kernels: shape %v overflows", shape)
		}
		n *= d
	}
	return n, nil
}

func checkLen(n int, shape []int) error {
	want, err := numel(shape)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("kernels: %d elements do not fill shape %v (%d)", n, shape, want)
	}
	return nil
}

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the dimensions; the caller must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// OnHost reports whether the elements live in host memory.
func (t *Tensor) OnHost() bool { return t.Dev == nil }

// F32 returns the host storage of a Float32 tensor (nil otherwise).
func (t *Tensor) F32() []float32 { return t.f32 }

// U16 returns the host storage of a BFloat16/Float16 tensor (nil otherwise).
func (t *Tensor) U16() []uint16 { return t.u16 }

// I64 returns the host storage of an Int64 tensor (nil otherwise).
func (t *Tensor) I64() []int64 { return t.i64 }

// I32 returns the host storage of an Int32 tensor (nil otherwise).
func (t *Tensor) I32() []int32 { return t.i32 }

// String describes dtype and shape, e.g. "F32[2 3]".
func (t *Tensor) String() string {
	if t == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%v%v", t.dtype, t.shape)
}

// Reshape returns a view with a new shape of the same element count. One
// dimension may be -1 and is inferred.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	shape = slices.Clone(shape)
	infer := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, fmt.Errorf("kernels: reshape %v to %v: bad dimension %d", t, shape, d)
		default:
			known *= d
		}
	}
	n := t.Len()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("kernels: reshape %v to %v: cannot infer dimension", t, shape)
		}
		shape[infer] = n / known
	} else if known != n {
		return nil, fmt.Errorf("kernels: reshape %v to %v: element count %d != %d", t, shape, known, n)
	}
	v := *t
	v.shape = shape
	return &v, nil
}

// MustReshape is Reshape for shapes the caller has already validated. A
// nil tensor stays nil: model code allocates through a run that stops
// allocating after its first error (a lost peer, a cancelled context) and
// reports that error, so a view of a skipped allocation must not panic.
func (t *Tensor) MustReshape(shape ...int) *Tensor {
	if t == nil {
		return nil
	}
	v, err := t.Reshape(shape...)
	if err != nil {
		panic(err)
	}
	return v
}

// Slice returns a view of rows [from, to) along dimension 0.
func (t *Tensor) Slice(from, to int) (*Tensor, error) {
	if len(t.shape) == 0 {
		return nil, fmt.Errorf("kernels: slice of scalar %v", t)
	}
	if from < 0 || to < from || to > t.shape[0] {
		return nil, fmt.Errorf("kernels: slice [%d:%d] of %v out of range", from, to, t)
	}
	row := 1
	for _, d := range t.shape[1:] {
		row *= d
	}
	v := *t
	v.shape = slices.Clone(t.shape)
	v.shape[0] = to - from
	lo, hi := from*row, to*row
	switch {
	case t.Dev != nil:
		v.Dev = t.Dev.Slice(lo, hi-lo)
	case t.f32 != nil:
		v.f32 = t.f32[lo:hi:hi]
	case t.u16 != nil:
		v.u16 = t.u16[lo:hi:hi]
	case t.i64 != nil:
		v.i64 = t.i64[lo:hi:hi]
	case t.i32 != nil:
		v.i32 = t.i32[lo:hi:hi]
	}
	return &v, nil
}

// SliceLeading returns the view t[idx...] of the leading len(idx) dims:
// for t of shape [A, B, C], SliceLeading(a, b) has shape [C].
func (t *Tensor) SliceLeading(idx ...int) (*Tensor, error) {
	v := t
	for _, i := range idx {
		s, err := v.Slice(i, i+1)
		if err != nil {
			return nil, err
		}
		v, err = s.Reshape(s.shape[1:]...)
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

// At returns element i (flat index) of a host tensor as float64. Integer
// and half dtypes are converted. It is meant for tests and small reads.
func (t *Tensor) At(i int) float64 {
	switch t.dtype {
	case Float32:
		return float64(t.f32[i])
	case BFloat16, Float16:
		return float64(HalfToF32(t.dtype, t.u16[i]))
	case Int64:
		return float64(t.i64[i])
	case Int32:
		return float64(t.i32[i])
	}
	return math.NaN()
}

// ToF32 returns a new host Float32 tensor with the values of a host float
// tensor (a copy even when t is already Float32).
func (t *Tensor) ToF32() (*Tensor, error) {
	if t.Dev != nil {
		return nil, fmt.Errorf("kernels: to f32: %v is on a device", t)
	}
	out := MustNew(Float32, t.shape...)
	switch t.dtype {
	case Float32:
		copy(out.f32, t.f32)
	case BFloat16, Float16:
		for i, h := range t.u16 {
			out.f32[i] = HalfToF32(t.dtype, h)
		}
	default:
		return nil, fmt.Errorf("kernels: to f32: %v is not a float tensor", t)
	}
	return out, nil
}

// ToHalf returns a new host tensor of dtype dt (BFloat16 or Float16) with
// the values of a host Float32 tensor, rounded to nearest even.
func (t *Tensor) ToHalf(dt DType) (*Tensor, error) {
	if t.Dev != nil || t.dtype != Float32 || !dt.IsHalf() {
		return nil, fmt.Errorf("kernels: to %v: need a host F32 tensor, got %v", dt, t)
	}
	out := MustNew(dt, t.shape...)
	for i, f := range t.f32 {
		out.u16[i] = F32ToHalf(dt, f)
	}
	return out, nil
}

// Clone returns a deep copy of a host tensor.
func (t *Tensor) Clone() *Tensor {
	v := *t
	v.shape = slices.Clone(t.shape)
	v.f32 = slices.Clone(t.f32)
	v.u16 = slices.Clone(t.u16)
	v.i64 = slices.Clone(t.i64)
	v.i32 = slices.Clone(t.i32)
	return &v
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b *Tensor) bool { return slices.Equal(a.shape, b.shape) }
