package nn

import (
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// MaxRelDiff is max|got − want| / max|want| over two host float tensors of
// the same length (+Inf when they differ in length): the error measure of
// the models' bf16-versus-f32 tests.
func MaxRelDiff(got, want *kernels.Tensor) float64 {
	g, errG := got.ToF32()
	w, errW := want.ToF32()
	if errG != nil || errW != nil || g.Len() != w.Len() {
		return math.Inf(1)
	}
	var diff, scale float64
	for i, v := range w.F32() {
		diff = max(diff, math.Abs(float64(g.F32()[i])-float64(v)))
		scale = max(scale, math.Abs(float64(v)))
	}
	if diff == 0 {
		return 0
	}
	return diff / scale
}
