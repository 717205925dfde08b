package cpu

// Row kernels of norm_amd64.s; n must be a positive multiple of 8 and the
// slices at least n long (the wrappers below check).

//go:noescape
func statsAVX(x *float32, n int, shift float32) (s1, s2 float64)

//go:noescape
func lnRowAVX(o, x *float32, n int, m, s float32)

//go:noescape
func lnModRowAVX(o, x, sc, sh *float32, n int, m, s float32)

//go:noescape
func rmsRowAVX(o, x, w *float32, n int, s float32)

// statsSIMD returns the multiple-of-8 prefix length of x with Σ(x−shift)
// and Σ(x−shift)² over it in float64.
func statsSIMD(x []float32, shift float32) (n int, s1, s2 float64) {
	n = len(x) &^ 7
	if n == 0 {
		return 0, 0, 0
	}
	s1, s2 = statsAVX(&x[0], n, shift)
	return n, s1, s2
}

// The row wrappers write the multiple-of-8 prefix of o and return its
// length; callers finish the tail.

func lnRowSIMD(o, x []float32, m, s float32) int {
	n := vecLen(o, x)
	if n > 0 {
		lnRowAVX(&o[0], &x[0], n, m, s)
	}
	return n
}

func lnModRowSIMD(o, x, sc, sh []float32, m, s float32) int {
	n := vecLen(o, x)
	if n > len(sc) || n > len(sh) {
		panic("cpu: layernorm modulate: scale/shift shorter than the row")
	}
	if n > 0 {
		lnModRowAVX(&o[0], &x[0], &sc[0], &sh[0], n, m, s)
	}
	return n
}

func rmsMulSIMD(o, x, w []float32, s float32) int {
	n := vecLen(o, x)
	if n > len(w) {
		panic("cpu: rmsnorm: weight shorter than the row")
	}
	if n > 0 {
		rmsRowAVX(&o[0], &x[0], &w[0], n, s)
	}
	return n
}
