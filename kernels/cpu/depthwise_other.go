//go:build !amd64

package cpu

// dwTapsSIMD has no vector kernel on this architecture; the portable loops
// do all the work.
func dwTapsSIMD(acc, x, w []float32, xo, wo []int) int { return 0 }
