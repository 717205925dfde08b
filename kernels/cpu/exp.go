package cpu

import "math"

// Float32 exp for the elementwise transcendental ops. float64 math.Exp
// costs ~10 ns per element; this is a few ns in Go and well under one in
// the AVX2 kernels (exp_amd64.s uses the same reduction, polynomial and
// scaling), at ≲ 2 ulp of error.
//
// e^x = 2^n · e^r with n = round(x/ln2) and r = x − n·ln2 computed with a
// two-constant (Cody–Waite) split of ln2: expC1 has 9 significant bits, so
// n·expC1 is exact for |n| ≤ 150 and x − n·expC1 is exact (Sterbenz), and
// expC2 carries the rest. |r| ≤ ln2/2 (plus rounding slack).
const (
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375 // 355/512
	expC2    = -2.12194440054690583e-4
	// expMagic is 1.5·2²³: adding it rounds to an integer held in the low
	// mantissa bits.
	expMagic = 12582912
	// Inputs above expHi overflow to +Inf; below expLo the result is under
	// half the smallest subnormal and rounds to 0. Between them the
	// two-step scaling below handles n up to 128 and down to −150.
	expHi = 89
	expLo = -104
	// e^r ≈ 1 + r + r²·(c2 + c3 r + c4 r² + c5 r³ + c6 r⁴): the bracket
	// interpolates (e^r − 1 − r)/r² at the Chebyshev nodes of
	// [−0.3466, 0.3466]; relative error 1.7e-8 with these float32 values.
	expP2 = 0.5
	expP3 = 0.16666576
	expP4 = 0.041666556
	expP5 = 0.008363178
	expP6 = 0.0013926182
)

// expf returns e^x in float32: +Inf above expHi, 0 far below, NaN for NaN.
func expf(x float32) float32 {
	if !(x > expLo) {
		if x != x {
			return x
		}
		return 0
	}
	if x > expHi {
		return float32(math.Inf(1))
	}
	t := x*expLog2e + expMagic
	fn := t - expMagic
	n := int32(math.Float32bits(t)) - int32(math.Float32bits(expMagic))
	r := x - fn*expC1
	r -= fn * expC2
	p := ((((((expP6*r+expP5)*r+expP4)*r+expP3)*r+expP2)*r+1)*r + 1)
	// 2^n as two normal factors so that n = 128 (overflow to +Inf only
	// when the product does) and subnormal results (n < −126) come out
	// right with a single final rounding.
	n1 := n >> 1
	s1 := math.Float32frombits(uint32(n1+127) << 23)
	s2 := math.Float32frombits(uint32(n-n1+127) << 23)
	return p * s1 * s2
}

// siluf is x·σ(x) = x/(1 + e^−x); e^−x overflowing to +Inf gives −0.
func siluf(x float32) float32 { return x / (1 + expf(-x)) }

// GELU-tanh coefficients: 0.5·(1 + tanh u) = σ(2u), so
// GELU(x) = x/(1 + e^z) with z = −2u = x·(geluK1 + geluK2·x²). This form
// has no cancellation for negative x, unlike 1 + tanh u.
const (
	geluK1 = -1.5957691216057308  // −2·√(2/π)
	geluK2 = -0.07135481627260025 // −2·√(2/π)·0.044715
)

// geluf is PyTorch's GELU(approximate="tanh") in float32.
func geluf(x float32) float32 { return x / (1 + expf(x*(geluK1+geluK2*x*x))) }

// siluGo and geluGo apply the activation to src[i:] into dst[i:], for the
// tails the vector kernels leave and for the portable path.
func siluGo(dst, src []float32, i int) {
	dst = dst[:len(src)]
	for ; i < len(src); i++ {
		dst[i] = siluf(src[i])
	}
}

func geluGo(dst, src []float32, i int) {
	dst = dst[:len(src)]
	for ; i < len(src); i++ {
		dst[i] = geluf(src[i])
	}
}

// expSubSumGo writes dst[j] = e^(src[j]−m) for j ≥ i and returns their
// sum in float64.
func expSubSumGo(dst, src []float32, i int, m float32) float64 {
	dst = dst[:len(src)]
	var sum float64
	for ; i < len(src); i++ {
		e := expf(src[i] - m)
		dst[i] = e
		sum += float64(e)
	}
	return sum
}
