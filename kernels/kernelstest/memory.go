package kernelstest

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

var allDTypes = []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16, kernels.Int64, kernels.Int32}

func testName(t *testing.T, be kernels.Backend) {
	if be.Name() == "" {
		t.Error("Name() is empty")
	}
}

func testSync(t *testing.T, be kernels.Backend) {
	if err := be.Sync(); err != nil {
		t.Errorf("Sync on an idle backend: %v", err)
	}
	c := begin(t, be)
	x := c.up(c.randHost(4, 5))
	dst := c.nan(4, 5)
	c.call("Activate", func() error { return be.Activate(dst, x, kernels.ActReLU) })
	if err := be.Sync(); err != nil {
		t.Errorf("Sync after an op: %v", err)
	}
	if err := be.Sync(); err != nil {
		t.Errorf("second Sync: %v", err)
	}
}

func testAlloc(t *testing.T, be kernels.Backend) {
	shapes := [][]int{{1}, {3, 5}, {2, 3, 7}, {129}, {2, 1, 3, 1}}
	for _, dt := range allDTypes {
		t.Run(dt.String(), func(t *testing.T) {
			c := begin(t, be)
			for _, s := range shapes {
				// Dirty memory first so a pool that reuses buffers without
				// zeroing them is caught.
				dirty := kernels.MustNew(kernels.Float32, s...)
				for i := range dirty.F32() {
					dirty.F32()[i] = 7
				}
				if dt.IsFloat() {
					c.up(mustConvert(c, dirty, dt))
				}
				h := c.down(c.alloc(dt, s...))
				for i := range h.Len() {
					if v := h.At(i); v != 0 || math.Signbit(v) {
						t.Fatalf("Alloc(%v, %v): element %d = %v, want +0", dt, s, i, v)
					}
				}
			}
		})
	}
	expectErrors(t, "Alloc", []badCall{
		{"negative_dim", func() error { _, err := be.Alloc(kernels.Float32, 2, -3); return err }},
		{"unknown_dtype", func() error { _, err := be.Alloc(kernels.DType(77), 4); return err }},
	})
}

// mustConvert converts a host Float32 tensor to float dtype dt.
func mustConvert(c *tc, h *kernels.Tensor, dt kernels.DType) *kernels.Tensor {
	c.Helper()
	if dt == kernels.Float32 {
		return h
	}
	out, err := h.ToHalf(dt)
	if err != nil {
		c.Fatal(err)
	}
	return out
}

func testCopy(t *testing.T, be kernels.Backend) {
	for _, dt := range allDTypes {
		t.Run("roundtrip/"+dt.String(), func(t *testing.T) { copyRoundTrip(begin(t, be), dt) })
	}
	floats := []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16}
	for _, src := range floats {
		for _, dst := range floats {
			t.Run("convert/"+src.String()+"_to_"+dst.String(), func(t *testing.T) {
				copyConvert(begin(t, be), src, dst)
			})
		}
	}
	t.Run("slice_view", func(t *testing.T) { copySliceView(begin(t, be)) })
	e := newErrCtx(t, be)
	a, b := e.f(2, 3), e.f(3, 2)
	expectErrors(t, "Copy", []badCall{
		{"shape_mismatch", func() error { return be.Copy(a, b) }},
		{"count_mismatch", func() error { return be.Copy(a, kernels.MustNew(kernels.Float32, 7)) }},
		{"nil_dst", func() error { return be.Copy(nil, a) }},
		{"nil_src", func() error { return be.Copy(a, nil) }},
	})
}

// copyRoundTrip checks host → backend → host is exact for every dtype.
func copyRoundTrip(c *tc, dt kernels.DType) {
	c.Helper()
	shape := []int{3, 17}
	h := kernels.MustNew(dt, shape...)
	for i := range h.Len() {
		switch dt {
		case kernels.Float32:
			h.F32()[i] = math.Float32frombits(c.rng.Uint32() &^ 0x40000000) // finite
		case kernels.BFloat16, kernels.Float16:
			h.U16()[i] = uint16(c.rng.Uint32()) &^ 0x4000 // finite
		case kernels.Int64:
			h.I64()[i] = int64(c.rng.Uint64())
		case kernels.Int32:
			h.I32()[i] = int32(c.rng.Uint32())
		}
	}
	back := c.down(c.up(h))
	if back.DType() != dt || !kernels.SameShape(back, h) {
		c.Fatalf("round trip gave %v, want %v", back, h)
	}
	for i := range h.Len() {
		if !sameBits(h, back, i) {
			c.Fatalf("round trip of %v: element %d changed (%v → %v)", dt, i, h.At(i), back.At(i))
		}
	}
}

func sameBits(a, b *kernels.Tensor, i int) bool {
	switch a.DType() {
	case kernels.Float32:
		return math.Float32bits(a.F32()[i]) == math.Float32bits(b.F32()[i])
	case kernels.BFloat16, kernels.Float16:
		return a.U16()[i] == b.U16()[i]
	case kernels.Int64:
		return a.I64()[i] == b.I64()[i]
	}
	return a.I32()[i] == b.I32()[i]
}

// conversionInputs returns Float32 values that stress rounding: ties to
// even for both half formats, the f16 overflow threshold, subnormals,
// infinities and NaN, plus random values.
func conversionInputs(c *tc) []float32 {
	v := []float32{0, float32(math.Copysign(0, -1)), 1, -1.5, 1.0 / 3, 65504, 65519.99, 65520, -70000,
		1e-5, 6e-8, float32(math.Ldexp(1, -25)), float32(math.Ldexp(3, -25)), 1e-30, 1e30, -3.4e38,
		math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000), math.Float32frombits(0x3f800fff),
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -9999.5, 2049, 2051}
	for range 39 {
		v = append(v, float32(c.rng.NormFloat64()*math.Exp2(float64(c.rng.IntN(40)-20))))
	}
	return v
}

// copyConvert converts src-dtype data to dst dtype three ways (host to
// backend, backend to backend, backend to host) and compares the bits with
// kernels.F32ToBF16/F32ToF16 (widening is exact).
func copyConvert(c *tc, src, dst kernels.DType) {
	c.Helper()
	in := mustConvert(c, host(conversionInputs(c), 8, 8), src)
	want := kernels.MustNew(dst, in.Shape()...)
	for i := range in.Len() {
		f := float32(in.At(i))
		if dst == kernels.Float32 {
			want.F32()[i] = f
		} else {
			want.U16()[i] = kernels.F32ToHalf(dst, f)
		}
	}
	paths := map[string]func() *kernels.Tensor{
		"host_to_backend": func() *kernels.Tensor {
			d := c.alloc(dst, in.Shape()...)
			c.call("Copy", func() error { return c.be.Copy(d, in) })
			return c.down(d)
		},
		"backend_to_backend": func() *kernels.Tensor {
			d := c.alloc(dst, in.Shape()...)
			s := c.up(in)
			c.call("Copy", func() error { return c.be.Copy(d, s) })
			return c.down(d)
		},
		"backend_to_host": func() *kernels.Tensor {
			h := kernels.MustNew(dst, in.Shape()...)
			s := c.up(in)
			if err := c.be.Sync(); err != nil {
				c.Fatal(err)
			}
			c.call("Copy", func() error { return c.be.Copy(h, s) })
			return h
		},
	}
	for name, path := range paths {
		got := path()
		for i := range in.Len() {
			g, w := got.At(i), want.At(i)
			if math.IsNaN(w) && math.IsNaN(g) {
				continue
			}
			if !sameBits(got, want, i) {
				c.Errorf("%s %v→%v: element %d (%v): got %v, want %v (RNE)", name, src, dst, i, in.At(i), g, w)
			}
		}
	}
}

// copySliceView copies into and out of a leading-dimension view of a
// backend tensor.
func copySliceView(c *tc) {
	c.Helper()
	d := c.alloc(kernels.Float32, 5, 3)
	view, err := d.Slice(1, 3)
	if err != nil {
		c.Fatal(err)
	}
	rows := host([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	c.call("Copy", func() error { return c.be.Copy(view, rows) })
	want := []float64{0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0}
	c.expectExact("copy into view", []int{5, 3}, c.downF32(d), want)
	c.expectExact("copy out of view", []int{2, 3}, c.downF32(view), want[3:9])
}
