//go:build !amd64

package cpu

// No vector kernels on this architecture: the portable loops do all the
// work.

func statsSIMD(x []float32, shift float32) (n int, s1, s2 float64) { return 0, 0, 0 }
func lnRowSIMD(o, x []float32, m, s float32) int                   { return 0 }
func lnModRowSIMD(o, x, sc, sh []float32, m, s float32) int        { return 0 }
func rmsMulSIMD(o, x, w []float32, s float32) int                  { return 0 }
