//go:build !amd64

package cpu

// kernSIMD falls back to the portable kernel where there is no assembly
// (Backend.simd is always false there, so it is never selected).
func kernSIMD(kc int, a, b []float32, c []float32, ldc int, acc bool) {
	kernGo(kc, a, b, c, ldc, acc)
}

// packBTransFast reports that there is no assembly packer here.
func packBTransFast(pan []float32, b matB, pc, kb, j0 int) bool { return false }
