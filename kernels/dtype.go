package kernels

import (
	"fmt"
	"math"
)

// DType is the element type of a tensor's storage.
type DType uint8

// Storage dtypes. Float32 is the compute type; BFloat16 and Float16 are
// storage types (weights may stay 16-bit in memory); Int64 and Int32 hold
// token ids, positions and masks.
const (
	Float32 DType = iota + 1
	BFloat16
	Float16
	Int64
	Int32
)

// String returns the safetensors spelling of the dtype.
func (d DType) String() string {
	switch d {
	case Float32:
		return "F32"
	case BFloat16:
		return "BF16"
	case Float16:
		return "F16"
	case Int64:
		return "I64"
	case Int32:
		return "I32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case BFloat16, Float16:
		return 2
	case Int64:
		return 8
	}
	return 0
}

// IsFloat reports whether d is one of the floating-point storage types.
func (d DType) IsFloat() bool { return d == Float32 || d == BFloat16 || d == Float16 }

// IsHalf reports whether d is a 16-bit float type.
func (d DType) IsHalf() bool { return d == BFloat16 || d == Float16 }

// Valid reports whether d is a known dtype.
func (d DType) Valid() bool { return d >= Float32 && d <= Int32 }

// BF16ToF32 widens a bfloat16 bit pattern exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 narrows with round-to-nearest-even; NaN stays a (quiet) NaN and
// keeps its sign, infinities stay infinite.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep sign, force a quiet mantissa bit
		return uint16(b>>16) | 0x0040
	}
	// Adding 0x7fff plus the lowest kept bit rounds half to even; an
	// overflow carries into the exponent and correctly produces inf.
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToF32 widens an IEEE binary16 bit pattern exactly, including
// subnormals, infinities and NaN.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: value = man * 2^-24, exactly representable in float32.
	v := float32(man) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// F32ToF16 narrows to IEEE binary16 with round-to-nearest-even, producing
// subnormals, signed zeros, infinities on overflow, and a quiet NaN for NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	abs := b & 0x7fffffff
	switch {
	case abs > 0x7f800000: // NaN
		return sign | 0x7e00 | uint16(abs>>13)&0x3ff
	case abs >= 0x477ff000: // rounds to >= 65520 → inf (also inf itself)
		return sign | 0x7c00
	case abs >= 0x38800000: // normal half range (>= 2^-14)
		// Re-bias exponent (127 → 15) and round the 13 dropped bits.
		v := abs - (112 << 23)
		v += 0x0fff + (v>>13)&1
		return sign | uint16(v>>13)
	case abs < 0x33000000: // below half of the smallest subnormal → ±0
		return sign
	}
	// Subnormal half: shift the implicit-one mantissa right and round.
	exp := abs >> 23
	man := abs&0x7fffff | 0x800000
	shift := 126 - exp // 14 + 13 - (exp - 127) - 1 ... gives shift in [14, 24]
	half := uint32(1) << (shift - 1)
	rem := man & (uint32(1)<<shift - 1)
	q := man >> shift
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return sign | uint16(q)
}

// HalfToF32 widens a 16-bit float of dtype d (BFloat16 or Float16).
func HalfToF32(d DType, h uint16) float32 {
	if d == BFloat16 {
		return BF16ToF32(h)
	}
	return F16ToF32(h)
}

// F32ToHalf narrows f to dtype d (BFloat16 or Float16) with
// round-to-nearest-even.
func F32ToHalf(d DType, f float32) uint16 {
	if d == BFloat16 {
		return F32ToBF16(f)
	}
	return F32ToF16(f)
}
