//go:build !amd64

package cpu

// No vector kernels on this architecture: every wrapper handles an empty
// prefix and the portable loops do all the work.

func siluSIMD(dst, src []float32) int                            { return 0 }
func geluSIMD(dst, src []float32) int                            { return 0 }
func expSubSumSIMD(dst, src []float32, m float32) (int, float64) { return 0, 0 }
func maxSIMD(x []float32) (int, float32)                         { return 0, 0 }
func scaleSIMD(dst, src []float32, s float32) int                { return 0 }
func mulSIMD(dst, a, b []float32) int                            { return 0 }
