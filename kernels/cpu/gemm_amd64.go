package cpu

// kernAVX2 is the AVX2+FMA micro-kernel in gemm_amd64.s: a 6×16 tile of C
// in twelve ymm accumulators, one rank-1 update (two B vectors, six A
// broadcasts, twelve FMAs) per k step. c points at the tile's first
// element, ldc is in elements; acc adds the tile to C instead of
// overwriting it. a and b must hold kc·6 and kc·16 packed floats.
//
//go:noescape
func kernAVX2(kc int, a, b, c *float32, ldc int, acc bool)

// kernSIMD adapts kernAVX2 to the micro-kernel signature. The caller (the
// gemm driver) guarantees the tile lies inside c.
func kernSIMD(kc int, a, b []float32, c []float32, ldc int, acc bool) {
	kernAVX2(kc, &a[0], &b[0], &c[0], ldc, acc)
}
