package kernelstest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// tc is the context of one test case: the backend, a random source seeded
// from the test's name (so every case reproduces on its own) and helpers
// that move tensors through the backend.
type tc struct {
	*testing.T
	be   kernels.Backend
	rng  *rand.Rand
	seed uint64
	prec kernels.Precision // kernels.PrecisionOf(be): picks the product tolerances
}

// begin starts a case; the seed is a hash of the full test name.
func begin(t *testing.T, be kernels.Backend) *tc {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	seed := h.Sum64()
	return &tc{T: t, be: be, rng: rand.New(rand.NewPCG(seed, 0x5eed)), seed: seed, prec: kernels.PrecisionOf(be)}
}

// alloc allocates a zero-filled backend tensor.
func (c *tc) alloc(dt kernels.DType, shape ...int) *kernels.Tensor {
	c.Helper()
	d, err := c.be.Alloc(dt, shape...)
	if err != nil {
		c.Fatalf("Alloc(%v, %v): %v", dt, shape, err)
	}
	if d == nil || d.DType() != dt || !sameInts(d.Shape(), shape) {
		c.Fatalf("Alloc(%v, %v) returned %v", dt, shape, d)
	}
	return d
}

// up copies a host tensor into a new backend tensor of the same dtype.
func (c *tc) up(h *kernels.Tensor) *kernels.Tensor {
	c.Helper()
	d := c.alloc(h.DType(), h.Shape()...)
	if err := c.be.Copy(d, h); err != nil {
		c.Fatalf("Copy(device %v, host %v): %v", d, h, err)
	}
	return d
}

// nan allocates a Float32 backend tensor filled with NaN, so that elements
// an op fails to write are caught.
func (c *tc) nan(shape ...int) *kernels.Tensor {
	c.Helper()
	return c.up(nanHost(shape...))
}

// nanHost is a host Float32 tensor filled with NaN.
func nanHost(shape ...int) *kernels.Tensor {
	h := kernels.MustNew(kernels.Float32, shape...)
	for i := range h.F32() {
		h.F32()[i] = float32(math.NaN())
	}
	return h
}

// down syncs the backend and copies a backend tensor to a new host tensor
// of the same dtype.
func (c *tc) down(d *kernels.Tensor) *kernels.Tensor {
	c.Helper()
	if err := c.be.Sync(); err != nil {
		c.Fatalf("Sync: %v", err)
	}
	h := kernels.MustNew(d.DType(), d.Shape()...)
	if err := c.be.Copy(h, d); err != nil {
		c.Fatalf("Copy(host %v, device %v): %v", h, d, err)
	}
	return h
}

// downF32 downloads a Float32 backend tensor and returns its elements.
func (c *tc) downF32(d *kernels.Tensor) []float32 {
	c.Helper()
	return c.down(d).F32()
}

// call runs an op: a panic or error fails the case, ErrNotImplemented
// skips it.
func (c *tc) call(op string, f func() error) {
	c.Helper()
	p, err := safeCall(f)
	switch {
	case p != nil:
		c.Fatalf("%s panicked: %v (seed %#x)", op, p, c.seed)
	case errors.Is(err, kernels.ErrNotImplemented):
		c.Skipf("%s: %v", op, err)
	case err != nil:
		c.Fatalf("%s: %v (seed %#x)", op, err, c.seed)
	}
}

// safeCall runs f, turning a panic into its recovered value.
func safeCall(f func() error) (panicked any, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked = r
		}
	}()
	return nil, f()
}

// uniform returns n values uniform in [lo, hi).
func (c *tc) uniform(n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*c.rng.Float64())
	}
	return v
}

// host wraps values as a host Float32 tensor.
func host(v []float32, shape ...int) *kernels.Tensor {
	t, err := kernels.FromF32(v, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

// randHost returns a host Float32 tensor uniform in [-1, 1).
func (c *tc) randHost(shape ...int) *kernels.Tensor {
	return host(c.uniform(numel(shape), -1, 1), shape...)
}

// weight returns a host tensor of dtype dt with values uniform in [-1, 1)
// and the exact (widened) values the reference must use.
func (c *tc) weight(dt kernels.DType, shape ...int) (*kernels.Tensor, []float64) {
	c.Helper()
	h := c.randHost(shape...)
	if dt != kernels.Float32 {
		var err error
		if h, err = h.ToHalf(dt); err != nil {
			c.Fatal(err)
		}
	}
	return h, values(h)
}

// values returns the elements of a host tensor as float64.
func values(h *kernels.Tensor) []float64 {
	v := make([]float64, h.Len())
	for i := range v {
		v[i] = h.At(i)
	}
	return v
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// cat concatenates shapes.
func cat(a []int, b ...int) []int {
	return append(append([]int(nil), a...), b...)
}

var weightDTypes = []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16}

// unravel turns a flat index into a multi-index of shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

// tols builds per-element absolute tolerances atol + rtol·scale[i]; a nil
// scale means |want[i]|.
func tols(want, scale []float64, atol, rtol float64) []float64 {
	t := make([]float64, len(want))
	for i := range t {
		s := math.Abs(want[i])
		if scale != nil {
			s = scale[i]
		}
		t[i] = atol + rtol*s
	}
	return t
}

// expect compares got with want element by element (|got − want| ≤ tol[i],
// NaN never passes) and reports the worst element.
func (c *tc) expect(what string, shape []int, got []float32, want, tol []float64) {
	c.Helper()
	if len(got) != len(want) {
		c.Fatalf("%s: got %d elements, want %d", what, len(got), len(want))
	}
	bad, worst, worstRatio := 0, -1, 0.0
	for i, g := range got {
		d := math.Abs(float64(g) - want[i])
		ratio := d / tol[i]
		if math.IsNaN(d) {
			ratio = math.Inf(1)
		}
		if d > tol[i] || math.IsNaN(d) {
			bad++
			if worst < 0 || ratio > worstRatio {
				worst, worstRatio = i, ratio
			}
		}
	}
	if bad > 0 {
		c.Errorf("%s: %d of %d elements out of tolerance (seed %#x); worst at %v (flat %d): got %v, want %v, |diff| %.3g > tol %.3g",
			what, bad, len(got), c.seed, unravel(worst, shape), worst, got[worst], want[worst],
			math.Abs(float64(got[worst])-want[worst]), tol[worst])
	}
}

// expectExact compares for bitwise-equal float32 values.
func (c *tc) expectExact(what string, shape []int, got []float32, want []float64) {
	c.Helper()
	c.expect(what, shape, got, want, make([]float64, len(want)))
}

// label formats a case description for failure messages.
func label(format string, args ...any) string { return fmt.Sprintf(format, args...) }
