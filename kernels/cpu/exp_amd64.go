package cpu

// Vector kernels of exp_amd64.s; n must be a positive multiple of 8 and
// the slices at least n long (the wrappers below check).

//go:noescape
func siluAVX(dst, src *float32, n int)

//go:noescape
func geluAVX(dst, src *float32, n int)

//go:noescape
func expSubSumAVX(dst, src *float32, n int, m float32) float64

//go:noescape
func maxAVX(x *float32, n int) float32

//go:noescape
func scaleAVX(dst, src *float32, n int, s float32)

//go:noescape
func mulAVX(dst, a, b *float32, n int)

// vecLen returns the multiple-of-8 prefix of src the kernels handle,
// after checking dst can hold it (the assembly does not check bounds).
func vecLen(dst, src []float32) int {
	n := len(src) &^ 7
	if n > len(dst) {
		panic("cpu: vector kernel: dst shorter than src")
	}
	return n
}

// The *SIMD wrappers process the largest multiple-of-8 prefix with the
// AVX2+FMA kernels and return its length; callers finish the tail.

func siluSIMD(dst, src []float32) int {
	n := vecLen(dst, src)
	if n > 0 {
		siluAVX(&dst[0], &src[0], n)
	}
	return n
}

func geluSIMD(dst, src []float32) int {
	n := vecLen(dst, src)
	if n > 0 {
		geluAVX(&dst[0], &src[0], n)
	}
	return n
}

// expSubSumSIMD writes dst[i] = e^(src[i]−m) and returns the prefix
// length and its float64 sum.
func expSubSumSIMD(dst, src []float32, m float32) (int, float64) {
	n := vecLen(dst, src)
	if n == 0 {
		return 0, 0
	}
	return n, expSubSumAVX(&dst[0], &src[0], n, m)
}

// maxSIMD returns the prefix length and its maximum (NaN if it has one).
func maxSIMD(x []float32) (int, float32) {
	n := len(x) &^ 7
	if n == 0 {
		return 0, 0
	}
	return n, maxAVX(&x[0], n)
}

func scaleSIMD(dst, src []float32, s float32) int {
	n := vecLen(dst, src)
	if n > 0 {
		scaleAVX(&dst[0], &src[0], n, s)
	}
	return n
}

func mulSIMD(dst, a, b []float32) int {
	n := vecLen(dst, a)
	if n > len(b) {
		panic("cpu: vector kernel: b shorter than a")
	}
	if n > 0 {
		mulAVX(&dst[0], &a[0], &b[0], n)
	}
	return n
}
