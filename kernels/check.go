package kernels

import (
	"fmt"
	"unsafe"
)

// Argument validation shared by every backend. Each Check* function
// validates the arguments of the Backend op of the same name (nil tensors,
// dtypes, ranks, shape compatibility, forbidden aliasing) and returns the
// dimensions the kernel needs. Errors name the op and the offending
// tensors, e.g. "kernels: matmul: a F32[2 5 7] and w F32[3 6]: inner
// dimensions 7 != 6". Host residency is checked separately by RequireHost
// because only host backends need it.

// checker accumulates the first validation failure of one op so the Check*
// functions read as a flat list of requirements.
type checker struct {
	op  string
	err error
}

func (c *checker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("kernels: "+c.op+": "+format, args...)
	}
}

func (c *checker) ok() bool { return c.err == nil }

// present requires t to be non-nil with a valid dtype.
func (c *checker) present(name string, t *Tensor) {
	if !c.ok() {
		return
	}
	if t == nil {
		c.fail("%s is nil", name)
		return
	}
	if !t.dtype.Valid() {
		c.fail("%s %v has an unknown dtype", name, t)
	}
}

// f32 requires a non-nil Float32 tensor (activations).
func (c *checker) f32(name string, t *Tensor) {
	c.present(name, t)
	if c.ok() && t.dtype != Float32 {
		c.fail("%s %v: dtype must be F32", name, t)
	}
}

// act requires a non-nil Float32 or BFloat16 tensor (activations of the
// ops that take bf16 ones: MatMul, MixFFNConv).
func (c *checker) act(name string, t *Tensor) {
	c.present(name, t)
	if c.ok() && t.dtype != Float32 && t.dtype != BFloat16 {
		c.fail("%s %v: dtype must be F32 or BF16", name, t)
	}
}

// float requires a non-nil float tensor (weights, biases, tables).
func (c *checker) float(name string, t *Tensor) {
	c.present(name, t)
	if c.ok() && !t.dtype.IsFloat() {
		c.fail("%s %v: dtype must be F32, BF16 or F16", name, t)
	}
}

// index requires a non-nil Int64 or Int32 tensor (ids, positions).
func (c *checker) index(name string, t *Tensor) {
	c.present(name, t)
	if c.ok() && t.dtype != Int64 && t.dtype != Int32 {
		c.fail("%s %v: dtype must be I64 or I32", name, t)
	}
}

// rank requires exactly r dimensions.
func (c *checker) rank(name string, t *Tensor, r int) {
	if c.ok() && t.Rank() != r {
		c.fail("%s %v: rank must be %d", name, t, r)
	}
}

// minRank requires at least r dimensions.
func (c *checker) minRank(name string, t *Tensor, r int) {
	if c.ok() && t.Rank() < r {
		c.fail("%s %v: rank must be at least %d", name, t, r)
	}
}

// shape requires t to have exactly the given shape.
func (c *checker) shape(name string, t *Tensor, shape ...int) {
	if !c.ok() {
		return
	}
	if len(t.shape) != len(shape) {
		c.fail("%s %v: want shape %v", name, t, shape)
		return
	}
	for i, d := range shape {
		if t.shape[i] != d {
			c.fail("%s %v: want shape %v", name, t, shape)
			return
		}
	}
}

// noOverlap forbids dst from sharing host memory with src.
func (c *checker) noOverlap(dname string, dst *Tensor, sname string, src *Tensor) {
	if c.ok() && Overlap(dst, src) {
		c.fail("%s %v must not alias %s %v", dname, dst, sname, src)
	}
}

// sameOrDisjoint allows dst to be exactly src (in-place) but not a partial
// overlap, which would read already-written elements.
func (c *checker) sameOrDisjoint(dname string, dst *Tensor, sname string, src *Tensor) {
	if c.ok() && Overlap(dst, src) && !sameStorage(dst, src) {
		c.fail("%s %v partially overlaps %s %v", dname, dst, sname, src)
	}
}

// storage returns the address range [lo, hi) of a host tensor's elements
// (0, 0 when it has none or lives on a device).
func storage(t *Tensor) (lo, hi uintptr) {
	if t == nil || t.Dev != nil {
		return 0, 0
	}
	var p unsafe.Pointer
	var n, size int
	switch {
	case len(t.f32) > 0:
		p, n, size = unsafe.Pointer(&t.f32[0]), len(t.f32), 4
	case len(t.u16) > 0:
		p, n, size = unsafe.Pointer(&t.u16[0]), len(t.u16), 2
	case len(t.i64) > 0:
		p, n, size = unsafe.Pointer(&t.i64[0]), len(t.i64), 8
	case len(t.i32) > 0:
		p, n, size = unsafe.Pointer(&t.i32[0]), len(t.i32), 4
	default:
		return 0, 0
	}
	lo = uintptr(p)
	return lo, lo + uintptr(n*size)
}

// Overlap reports whether two host tensors share any element memory.
// Device tensors never compare as overlapping (a device backend checks its
// own handles).
func Overlap(a, b *Tensor) bool {
	alo, ahi := storage(a)
	blo, bhi := storage(b)
	return alo < ahi && blo < bhi && alo < bhi && blo < ahi
}

// sameStorage reports whether a and b are the same host storage. Device
// tensors have no host range (0, 0) and are never "the same" here: a
// device backend checks its own aliasing.
func sameStorage(a, b *Tensor) bool {
	alo, ahi := storage(a)
	blo, bhi := storage(b)
	return alo < ahi && alo == blo && ahi == bhi
}

// RequireHost checks that every non-nil tensor lives in host memory and
// that its host storage matches its shape, so host kernels can index
// without bounds surprises.
func RequireHost(op string, ts ...*Tensor) error {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if t.Dev != nil {
			return fmt.Errorf("kernels: %s: %v is not in host memory", op, t)
		}
		var n int
		switch t.dtype {
		case Float32:
			n = len(t.f32)
		case BFloat16, Float16:
			n = len(t.u16)
		case Int64:
			n = len(t.i64)
		case Int32:
			n = len(t.i32)
		}
		if n != t.Len() {
			return fmt.Errorf("kernels: %s: %v has %d stored elements, want %d", op, t, n, t.Len())
		}
	}
	return nil
}

// rowsOf splits t into rows of its last dimension: rows × d.
func rowsOf(t *Tensor) (rows, d int) {
	d = t.Dim(-1)
	if d == 0 {
		return 0, 0
	}
	return t.Len() / d, d
}

// CheckAlloc validates an allocation request.
func CheckAlloc(dt DType, shape []int) error {
	if !dt.Valid() {
		return fmt.Errorf("kernels: alloc: unknown dtype %v", dt)
	}
	if _, err := numel(shape); err != nil {
		return fmt.Errorf("kernels: alloc %v%v: %w", dt, shape, err)
	}
	return nil
}

// CheckCopy validates Copy: same shape; float dtypes convert among
// themselves and integer dtypes among themselves.
func CheckCopy(dst, src *Tensor) error {
	c := checker{op: "copy"}
	c.present("dst", dst)
	c.present("src", src)
	if c.ok() && !SameShape(dst, src) {
		c.fail("dst %v and src %v: shapes differ", dst, src)
	}
	if c.ok() && dst.dtype.IsFloat() != src.dtype.IsFloat() {
		c.fail("dst %v and src %v: cannot convert between float and integer", dst, src)
	}
	c.sameOrDisjoint("dst", dst, "src", src)
	return c.err
}
