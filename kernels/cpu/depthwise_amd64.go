package cpu

//go:noescape
func dwTapsAVX(n int, acc, x, w *float32, xo, wo *int, taps int)

// dwTapsSIMD adds all taps to acc for the largest multiple-of-8 prefix of
// acc with the AVX2+FMA kernel and returns its length; the caller finishes
// the tail. The offsets index x and w at acc's first channel. Bounds are
// verified here because the assembly does not check them.
func dwTapsSIMD(acc, x, w []float32, xo, wo []int) int {
	n := len(acc) &^ 7
	if n == 0 || len(xo) == 0 {
		return 0
	}
	for t := range xo {
		if xo[t] < 0 || wo[t] < 0 || xo[t]+n > len(x) || wo[t]+n > len(w) {
			panic("cpu: depthwise: tap offset out of range")
		}
	}
	dwTapsAVX(n, &acc[0], &x[0], &w[0], &xo[0], &wo[0], len(xo))
	return n
}
