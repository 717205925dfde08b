package rng

import "math"

// This file reproduces, in scalar float32 arithmetic, the vector log and
// sincos that PyTorch's AVX2 CPU kernel uses for float32 randn
// (aten/src/ATen/native/cpu/avx_mathfun.h, a port of Julien Pommier's
// Cephes-based sse_mathfun). The kernel is compiled by GCC with -mfma and
// floating-point contraction on, so every multiply whose only use is an
// add or subtract is fused into an FMA; fma32 reproduces those fused
// operations (one rounding), and mul32 the plain products. Explicit
// float32 conversions keep the Go compiler from fusing anything else.

// Cephes single-precision log coefficients.
var logCoeffs = [...]float32{
	7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
	1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
	3.3333331174e-1,
}

const (
	logQ1       = -2.12194440e-4
	logQ2       = 0.693359375
	sqrtHalf32  = 0.707106781186547524
	minNormPos  = 0x00800000
	fourOverPi  = 1.27323954473516
	negDP1      = -0.78515625
	negDP2      = -2.4187564849853515625e-4
	negDP3      = -3.77489497744594108e-8
	sinCof0     = -1.9515295891e-4
	sinCof1     = 8.3321608736e-3
	sinCof2     = -1.6666654611e-1
	cosCof0     = 2.443315711809948e-005
	cosCof1     = -1.388731625493765e-003
	cosCof2     = 4.166664568298827e-002
	signBit32   = 0x80000000
	expMask32   = 0x7f800000
	halfBits32  = 0x3f000000
	float32Bias = 0x7f
)

// mul32 is a float32 product rounded on its own.
func mul32(a, b float32) float32 { return float32(a * b) }

// fma32 returns a*b+c rounded once to float32. The product is exact in
// float64; the sum is rounded to float64 with round-to-odd (sticky bit),
// which makes the final float32 rounding correct.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cc := float64(c)
	s := p + cc
	v := s - p
	err := (p - (s - v)) + (cc - v)
	if err != 0 && math.Float64bits(s)&1 == 0 {
		s = math.Nextafter(s, math.Copysign(math.Inf(1), err))
	}
	return float32(s)
}

// log256 is avx_mathfun's log256_ps for one lane (x > 0; x <= 0 gives NaN).
func log256(x float32) float32 {
	if !(x > 0) {
		return float32(math.NaN())
	}
	x = max(x, math.Float32frombits(minNormPos))
	bits := math.Float32bits(x)
	e := float32(int32(bits>>23)-float32Bias) + 1
	x = math.Float32frombits(bits&^expMask32 | halfBits32)
	var tmp float32
	if x < sqrtHalf32 {
		tmp = x
		e--
	}
	x = x - 1 + tmp
	z := mul32(x, x)
	y := logCoeffs[0]
	for _, c := range logCoeffs[1:] {
		y = fma32(y, x, c)
	}
	y = mul32(y, x)
	y = fma32(y, z, mul32(e, logQ1))
	y = fma32(-z, 0.5, y)
	x = x + y
	return fma32(e, logQ2, x)
}

// sincos256 is avx_mathfun's sincos256_ps for one lane.
func sincos256(x float32) (sin, cos float32) {
	signSin := math.Float32bits(x) & signBit32
	x = math.Float32frombits(math.Float32bits(x) &^ signBit32)
	j := (int32(mul32(x, fourOverPi)) + 1) &^ 1
	y := float32(j)
	signSin ^= uint32(j&4) << 29
	signCos := uint32(^(j-2)&4) << 29
	x = fma32(y, negDP1, x)
	x = fma32(y, negDP2, x)
	x = fma32(y, negDP3, x)
	z := mul32(x, x)

	c := fma32(cosCof0, z, cosCof1)
	c = fma32(c, z, cosCof2)
	c = mul32(c, z)
	c = fma32(c, z, -mul32(z, 0.5))
	c = c + 1

	s := fma32(sinCof0, z, sinCof1)
	s = fma32(s, z, sinCof2)
	s = mul32(s, z)
	s = fma32(s, x, x)

	if j&2 != 0 {
		s, c = c, s
	}
	sin = math.Float32frombits(math.Float32bits(s) ^ signSin)
	cos = math.Float32frombits(math.Float32bits(c) ^ signCos)
	return sin, cos
}
