package kernels

import (
	"math"
	"testing"
)

// decodeF16 is an independent float64 decoding of an IEEE binary16 pattern.
func decodeF16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch {
	case e == 0x1f && m == 0:
		return math.Inf(int(sign))
	case e == 0x1f:
		return math.NaN()
	case e == 0:
		return sign * m * math.Ldexp(1, -24)
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}

// decodeBF16 is an independent float64 decoding of a bfloat16 pattern.
func decodeBF16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>7) & 0xff
	m := float64(h & 0x7f)
	switch {
	case e == 0xff && m == 0:
		return math.Inf(int(sign))
	case e == 0xff:
		return math.NaN()
	case e == 0:
		return sign * m * math.Ldexp(1, -133)
	}
	return sign * math.Ldexp(1+m/128, e-127)
}

func isNaN16(h uint16, expBits uint16) bool {
	return h&expBits == expBits && h&^(expBits|0x8000) != 0
}

func TestDTypeProperties(t *testing.T) {
	tests := []struct {
		dt                 DType
		name               string
		size               int
		float, half, valid bool
	}{
		{Float32, "F32", 4, true, false, true},
		{BFloat16, "BF16", 2, true, true, true},
		{Float16, "F16", 2, true, true, true},
		{Int64, "I64", 8, false, false, true},
		{Int32, "I32", 4, false, false, true},
		{DType(0), "DType(0)", 0, false, false, false},
		{DType(99), "DType(99)", 0, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.dt.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if got := tc.dt.Size(); got != tc.size {
				t.Errorf("Size() = %d, want %d", got, tc.size)
			}
			if tc.dt.IsFloat() != tc.float || tc.dt.IsHalf() != tc.half || tc.dt.Valid() != tc.valid {
				t.Errorf("IsFloat/IsHalf/Valid = %v/%v/%v, want %v/%v/%v",
					tc.dt.IsFloat(), tc.dt.IsHalf(), tc.dt.Valid(), tc.float, tc.half, tc.valid)
			}
		})
	}
}

func TestF16ToF32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := F16ToF32(h)
		want := decodeF16(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("F16ToF32(%#04x) = %v, want NaN", h, got)
			}
			if math.Signbit(float64(got)) != (h&0x8000 != 0) {
				t.Fatalf("F16ToF32(%#04x) lost the NaN sign", h)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("F16ToF32(%#04x) = %v (%#08x), want %v", h, got, math.Float32bits(got), want)
		}
		if HalfToF32(Float16, h) != got && !math.IsNaN(float64(got)) {
			t.Fatalf("HalfToF32(Float16, %#04x) differs from F16ToF32", h)
		}
	}
}

func TestF32ToF16RoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := F16ToF32(h)
		got := F32ToF16(f)
		if isNaN16(h, 0x7c00) {
			if !isNaN16(got, 0x7c00) || got&0x8000 != h&0x8000 {
				t.Fatalf("F32ToF16(NaN from %#04x) = %#04x, want a NaN of the same sign", h, got)
			}
			continue
		}
		if got != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, got)
		}
		if F32ToHalf(Float16, f) != got {
			t.Fatalf("F32ToHalf(Float16, %v) differs from F32ToF16", f)
		}
	}
}

// checkMidpoints checks ties-to-even and nearest rounding between every pair
// of consecutive non-negative finite patterns lo, lo+1 (the pattern after the
// largest finite value is infinity, whose "value" is next).
func checkMidpoints(t *testing.T, name string, maxFinite uint16, decode func(uint16) float64,
	next float64, narrow func(float32) uint16) {
	t.Helper()
	for lo := uint16(0); lo <= maxFinite; lo++ {
		a := decode(lo)
		b := next
		if lo < maxFinite {
			b = decode(lo + 1)
		}
		mid := (a + b) / 2
		m32 := float32(mid)
		if float64(m32) != mid {
			t.Fatalf("%s: midpoint %v of %#04x not exact in float32", name, mid, lo)
		}
		even := lo
		if lo&1 == 1 {
			even = lo + 1
		}
		for _, sign := range []uint16{0, 0x8000} {
			s := float32(1)
			if sign != 0 {
				s = -1
			}
			if got := narrow(s * m32); got != even|sign {
				t.Fatalf("%s(%v) = %#04x, want tie to even %#04x", name, s*m32, got, even|sign)
			}
			below := math.Nextafter32(m32, 0)
			if got := narrow(s * below); got != lo|sign {
				t.Fatalf("%s(%v) = %#04x, want %#04x (below midpoint)", name, s*below, got, lo|sign)
			}
			above := math.Nextafter32(m32, float32(math.Inf(1)))
			if got := narrow(s * above); got != (lo+1)|sign {
				t.Fatalf("%s(%v) = %#04x, want %#04x (above midpoint)", name, s*above, got, (lo+1)|sign)
			}
		}
		if lo == maxFinite {
			break
		}
	}
}

func TestF32ToF16TiesToEven(t *testing.T) {
	checkMidpoints(t, "F32ToF16", 0x7bff, decodeF16, 65536, F32ToF16)
}

func TestF32ToBF16TiesToEven(t *testing.T) {
	checkMidpoints(t, "F32ToBF16", 0x7f7f, decodeBF16, math.Ldexp(1, 128), F32ToBF16)
}

func TestF32ToF16Specials(t *testing.T) {
	inf := float32(math.Inf(1))
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"neg_zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3c00},
		{"max", 65504, 0x7bff},
		{"below_overflow", math.Nextafter32(65520, 0), 0x7bff},
		{"overflow_65520", 65520, 0x7c00},
		{"neg_overflow", -65520, 0xfc00},
		{"huge", 1e30, 0x7c00},
		{"inf", inf, 0x7c00},
		{"neg_inf", -inf, 0xfc00},
		{"min_subnormal", float32(math.Ldexp(1, -24)), 0x0001},
		{"half_min_subnormal_tie", float32(math.Ldexp(1, -25)), 0x0000},
		{"above_half_min_subnormal", math.Nextafter32(float32(math.Ldexp(1, -25)), 1), 0x0001},
		{"three_quarter_subnormal", float32(math.Ldexp(3, -26)), 0x0001},
		{"tie_1.5_subnormal", float32(math.Ldexp(3, -25)), 0x0002},
		{"tiny", 1e-30, 0x0000},
		{"neg_tiny", -1e-30, 0x8000},
		{"min_normal", float32(math.Ldexp(1, -14)), 0x0400},
		{"subnormal_to_normal", math.Nextafter32(float32(math.Ldexp(1, -14)), 0), 0x0400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := F32ToF16(tc.in); got != tc.want {
				t.Errorf("F32ToF16(%v) = %#04x, want %#04x", tc.in, got, tc.want)
			}
		})
	}
	for _, nan := range []float32{float32(math.NaN()), math.Float32frombits(0xffc00001), math.Float32frombits(0x7f800001)} {
		if got := F32ToF16(nan); !isNaN16(got, 0x7c00) {
			t.Errorf("F32ToF16(NaN %#08x) = %#04x, not a NaN", math.Float32bits(nan), got)
		}
	}
}

func TestBF16RoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := BF16ToF32(h)
		want := decodeBF16(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("BF16ToF32(%#04x) = %v, want NaN", h, f)
			}
			if got := F32ToBF16(f); !isNaN16(got, 0x7f80) || got&0x8000 != h&0x8000 {
				t.Fatalf("F32ToBF16(NaN from %#04x) = %#04x, want NaN of same sign", h, got)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
			t.Fatalf("BF16ToF32(%#04x) = %v, want %v", h, f, want)
		}
		if got := F32ToBF16(f); got != h {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", h, got)
		}
		if HalfToF32(BFloat16, h) != f || F32ToHalf(BFloat16, f) != h {
			t.Fatalf("HalfToF32/F32ToHalf(BFloat16) differ for %#04x", h)
		}
	}
}

func TestF32ToBF16Specials(t *testing.T) {
	maxF32 := float32(math.MaxFloat32)
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"neg_zero", float32(math.Copysign(0, -1)), 0x8000},
		{"max_f32_overflows", maxF32, 0x7f80},
		{"neg_max_f32_overflows", -maxF32, 0xff80},
		{"inf", float32(math.Inf(1)), 0x7f80},
		{"sana_mask_-10000", -10000, 0xc61c}, // -9984 (docs/sana.md §2.1)
		{"f32_subnormal_tie", math.Float32frombits(0x00008000), 0x0000},
		{"f32_subnormal_tie_odd", math.Float32frombits(0x00018000), 0x0002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := F32ToBF16(tc.in); got != tc.want {
				t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", tc.in, got, tc.want)
			}
		})
	}
	for _, bits := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xff800001} {
		got := F32ToBF16(math.Float32frombits(bits))
		if !isNaN16(got, 0x7f80) || uint32(got&0x8000)<<16 != bits&0x80000000 {
			t.Errorf("F32ToBF16(NaN %#08x) = %#04x, want NaN of same sign", bits, got)
		}
	}
	if v := BF16ToF32(F32ToBF16(-10000)); v != -9984 {
		t.Errorf("bf16(-10000) = %v, want -9984", v)
	}
}
