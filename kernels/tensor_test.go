package kernels

import (
	"math"
	"slices"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		dt    DType
		shape []int
		n     int
	}{
		{"f32_2x3", Float32, []int{2, 3}, 6},
		{"bf16_4", BFloat16, []int{4}, 4},
		{"f16_1x1x5", Float16, []int{1, 1, 5}, 5},
		{"i64_3x2", Int64, []int{3, 2}, 6},
		{"i32_7", Int32, []int{7}, 7},
		{"scalar", Float32, nil, 1},
		{"empty", Float32, []int{0, 3}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := New(tc.dt, tc.shape...)
			if err != nil {
				t.Fatal(err)
			}
			if x.DType() != tc.dt || !slices.Equal(x.Shape(), tc.shape) && len(tc.shape) > 0 {
				t.Fatalf("got %v, want %v%v", x, tc.dt, tc.shape)
			}
			if x.Len() != tc.n || x.Rank() != len(tc.shape) || !x.OnHost() {
				t.Fatalf("Len/Rank/OnHost = %d/%d/%v", x.Len(), x.Rank(), x.OnHost())
			}
			lens := map[DType]int{Float32: len(x.F32()), BFloat16: len(x.U16()), Float16: len(x.U16()),
				Int64: len(x.I64()), Int32: len(x.I32())}
			if lens[tc.dt] != tc.n {
				t.Fatalf("storage length %d, want %d", lens[tc.dt], tc.n)
			}
			for i := range tc.n {
				if x.At(i) != 0 {
					t.Fatalf("element %d = %v, want 0", i, x.At(i))
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		dt    DType
		shape []int
	}{
		{"negative_dim", Float32, []int{2, -1}},
		{"negative_first", Int64, []int{-3}},
		{"unknown_dtype", DType(42), []int{2}},
		{"zero_dtype", DType(0), []int{2}},
		{"overflow", Float32, []int{math.MaxInt / 2, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if x, err := New(tc.dt, tc.shape...); err == nil {
				t.Fatalf("New(%v, %v) = %v, want error", tc.dt, tc.shape, x)
			}
		})
	}
	t.Run("must_new_panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("MustNew with a negative dim did not panic")
			}
		}()
		MustNew(Float32, -1)
	})
}

func TestFromErrors(t *testing.T) {
	tests := []struct {
		name string
		f    func() (*Tensor, error)
		ok   bool
	}{
		{"f32_ok", func() (*Tensor, error) { return FromF32(make([]float32, 6), 2, 3) }, true},
		{"f32_short", func() (*Tensor, error) { return FromF32(make([]float32, 5), 2, 3) }, false},
		{"f32_long", func() (*Tensor, error) { return FromF32(make([]float32, 7), 2, 3) }, false},
		{"f32_negative", func() (*Tensor, error) { return FromF32(make([]float32, 6), -2, -3) }, false},
		{"u16_ok", func() (*Tensor, error) { return FromU16(BFloat16, make([]uint16, 4), 4) }, true},
		{"u16_f16_ok", func() (*Tensor, error) { return FromU16(Float16, make([]uint16, 4), 2, 2) }, true},
		{"u16_not_half", func() (*Tensor, error) { return FromU16(Float32, make([]uint16, 4), 4) }, false},
		{"u16_len", func() (*Tensor, error) { return FromU16(Float16, make([]uint16, 3), 4) }, false},
		{"i64_ok", func() (*Tensor, error) { return FromI64(make([]int64, 3), 3) }, true},
		{"i64_len", func() (*Tensor, error) { return FromI64(make([]int64, 3), 4) }, false},
		{"i32_ok", func() (*Tensor, error) { return FromI32(make([]int32, 3), 1, 3) }, true},
		{"i32_len", func() (*Tensor, error) { return FromI32(make([]int32, 3), 2, 3) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := tc.f()
			if tc.ok && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("got %v, want error", x)
			}
		})
	}
}

func TestFromSharesData(t *testing.T) {
	data := []float32{1, 2, 3, 4}
	x, err := FromF32(data, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	data[3] = 9
	if x.At(3) != 9 || x.Dim(-1) != 2 || x.Dim(0) != 2 {
		t.Fatalf("FromF32 does not wrap its data: %v", x.F32())
	}
	if s := x.String(); s != "F32[2 2]" {
		t.Fatalf("String() = %q", s)
	}
	var nilT *Tensor
	if s := nilT.String(); s != "<nil>" {
		t.Fatalf("nil String() = %q", s)
	}
}

func TestReshape(t *testing.T) {
	x := MustNew(Float32, 2, 3, 4)
	tests := []struct {
		name string
		in   []int
		want []int // nil: error expected
	}{
		{"flat", []int{24}, []int{24}},
		{"same", []int{2, 3, 4}, []int{2, 3, 4}},
		{"infer_first", []int{-1, 4}, []int{6, 4}},
		{"infer_last", []int{4, -1}, []int{4, 6}},
		{"infer_middle", []int{2, -1, 2}, []int{2, 6, 2}},
		{"infer_alone", []int{-1}, []int{24}},
		{"unit_dims", []int{1, 24, 1}, []int{1, 24, 1}},
		{"count_mismatch", []int{5, 5}, nil},
		{"two_infer", []int{-1, -1}, nil},
		{"bad_negative", []int{-2, 12}, nil},
		{"infer_not_divisible", []int{5, -1}, nil},
		{"infer_with_zero", []int{0, -1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := x.Reshape(tc.in...)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("Reshape(%v) = %v, want error", tc.in, v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v.Shape(), tc.want) {
				t.Fatalf("Reshape(%v) shape %v, want %v", tc.in, v.Shape(), tc.want)
			}
			v.F32()[5] = 7
			if x.F32()[5] != 7 {
				t.Fatal("reshape view does not share storage")
			}
			x.F32()[5] = 0
		})
	}
	if !slices.Equal(x.Shape(), []int{2, 3, 4}) {
		t.Fatalf("Reshape modified the parent's shape: %v", x.Shape())
	}
	in := []int{6, -1}
	v := x.MustReshape(in...)
	if in[1] != -1 || v.Dim(1) != 4 {
		t.Fatalf("Reshape modified its argument or inferred wrongly: %v %v", in, v.Shape())
	}
}

func TestSliceSharesStorage(t *testing.T) {
	for _, dt := range []DType{Float32, BFloat16, Float16, Int64, Int32} {
		t.Run(dt.String(), func(t *testing.T) {
			x := MustNew(dt, 4, 3)
			s, err := x.Slice(1, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Shape(), []int{2, 3}) || s.Len() != 6 {
				t.Fatalf("slice shape %v", s.Shape())
			}
			setOne(s, 0) // element (1, 0) of x
			setOne(s, 5) // element (2, 2) of x
			for i := range x.Len() {
				want := 0.0
				if i == 3 || i == 8 {
					want = 1
				}
				if x.At(i) != want {
					t.Fatalf("x[%d] = %v, want %v (slice does not share storage)", i, x.At(i), want)
				}
			}
			if !slices.Equal(x.Shape(), []int{4, 3}) {
				t.Fatalf("Slice modified the parent's shape: %v", x.Shape())
			}
		})
	}
}

func setOne(x *Tensor, i int) {
	switch x.DType() {
	case Float32:
		x.F32()[i] = 1
	case BFloat16, Float16:
		x.U16()[i] = F32ToHalf(x.DType(), 1)
	case Int64:
		x.I64()[i] = 1
	case Int32:
		x.I32()[i] = 1
	}
}

func TestSliceErrors(t *testing.T) {
	x := MustNew(Float32, 4, 3)
	scalar := MustNew(Float32)
	tests := []struct {
		name     string
		x        *Tensor
		from, to int
		ok       bool
	}{
		{"full", x, 0, 4, true},
		{"empty", x, 2, 2, true},
		{"negative_from", x, -1, 2, false},
		{"to_before_from", x, 3, 2, false},
		{"past_end", x, 0, 5, false},
		{"scalar", scalar, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.x.Slice(tc.from, tc.to)
			if (err == nil) != tc.ok {
				t.Fatalf("Slice(%d, %d) of %v: err = %v, want ok=%v", tc.from, tc.to, tc.x, err, tc.ok)
			}
		})
	}
}

func TestSliceLeading(t *testing.T) {
	data := make([]float32, 2*3*4)
	for i := range data {
		data[i] = float32(i)
	}
	x, _ := FromF32(data, 2, 3, 4)
	v, err := x.SliceLeading(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Shape(), []int{4}) || v.F32()[0] != 20 || v.F32()[3] != 23 {
		t.Fatalf("SliceLeading(1, 2) = %v %v", v.Shape(), v.F32())
	}
	v.F32()[1] = -1
	if data[21] != -1 {
		t.Fatal("SliceLeading view does not share storage")
	}
	w, err := x.SliceLeading(0)
	if err != nil || !slices.Equal(w.Shape(), []int{3, 4}) || w.F32()[11] != 11 {
		t.Fatalf("SliceLeading(0) = %v, %v", w, err)
	}
	if same, err := x.SliceLeading(); err != nil || !SameShape(same, x) {
		t.Fatalf("SliceLeading() = %v, %v", same, err)
	}
	for _, idx := range [][]int{{2}, {0, 3}, {-1}, {0, 0, 0, 0}} {
		if _, err := x.SliceLeading(idx...); err == nil {
			t.Errorf("SliceLeading(%v) of %v: want error", idx, x)
		}
	}
}

func TestToF32ToHalf(t *testing.T) {
	vals := []float32{0, 1, -2.5, 1.0 / 3, 65504, 70000, 1e-6, -1e-8}
	x, _ := FromF32(slices.Clone(vals), 2, 4)
	for _, dt := range []DType{BFloat16, Float16} {
		t.Run(dt.String(), func(t *testing.T) {
			h, err := x.ToHalf(dt)
			if err != nil {
				t.Fatal(err)
			}
			if h.DType() != dt || !SameShape(h, x) {
				t.Fatalf("ToHalf gave %v", h)
			}
			back, err := h.ToF32()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				want := HalfToF32(dt, F32ToHalf(dt, v))
				if h.U16()[i] != F32ToHalf(dt, v) || back.F32()[i] != want || h.At(i) != float64(want) {
					t.Fatalf("element %d: %v → %#04x → %v, want %v", i, v, h.U16()[i], back.F32()[i], want)
				}
			}
		})
	}
	c, err := x.ToF32()
	if err != nil || !slices.Equal(c.F32(), vals) {
		t.Fatalf("ToF32 of F32 = %v, %v", c, err)
	}
	c.F32()[0] = 42
	if x.F32()[0] == 42 {
		t.Fatal("ToF32 of an F32 tensor does not copy")
	}
	bad := []func() error{
		func() error { _, err := x.ToHalf(Float32); return err },
		func() error { _, err := x.ToHalf(Int32); return err },
		func() error { h, _ := x.ToHalf(Float16); _, err := h.ToHalf(BFloat16); return err },
		func() error { _, err := MustNew(Int64, 2).ToF32(); return err },
		func() error { _, err := MustNew(Int32, 2).ToHalf(Float16); return err },
	}
	for i, f := range bad {
		if f() == nil {
			t.Errorf("bad conversion %d: want error", i)
		}
	}
}

type fakeMem struct{ off, n int }

func (m fakeMem) Slice(off, n int) DeviceMem { return fakeMem{m.off + off, n} }

func TestDeviceTensor(t *testing.T) {
	d, err := NewDevice(Float32, fakeMem{0, 12}, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d.OnHost() || d.F32() != nil {
		t.Fatal("device tensor claims host storage")
	}
	s, err := d.Slice(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Dev.(fakeMem); m.off != 3 || m.n != 6 {
		t.Fatalf("device slice = %+v, want off 3 n 6", m)
	}
	if _, err := d.ToF32(); err == nil {
		t.Error("ToF32 of a device tensor: want error")
	}
	if _, err := NewDevice(DType(9), fakeMem{}, 2); err == nil {
		t.Error("NewDevice with unknown dtype: want error")
	}
	if _, err := NewDevice(Float32, fakeMem{}, -2); err == nil {
		t.Error("NewDevice with negative dim: want error")
	}
}

func TestClone(t *testing.T) {
	x, _ := FromI64([]int64{1, 2, 3}, 3)
	c := x.Clone()
	c.I64()[0] = 9
	if x.I64()[0] != 1 || !SameShape(c, x) || SameShape(c, MustNew(Int64, 1, 3)) {
		t.Fatal("Clone is not deep or SameShape is wrong")
	}
}
