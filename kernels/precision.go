package kernels

import "fmt"

// Precision is how a backend rounds the operands of its matrix products
// (docs/performance.md):
//
//   - PrecisionF32: everything in float32, 16-bit weights widened; the mode
//     the golden and conformance tolerances were built for.
//   - PrecisionBF16: the production mode on GPUs, what diffusers does when
//     a pipeline runs in bfloat16: GEMM and convolution operands with
//     16-bit weights are rounded to the weights' dtype, products accumulate
//     in float32, and float32 operands multiply as TF32; norms, softmax and
//     the solver stay float32.
type Precision uint8

// Precisions; the zero value is float32.
const (
	PrecisionF32 Precision = iota
	PrecisionBF16
)

// String names the precision as the --precision flag spells it.
func (p Precision) String() string {
	switch p {
	case PrecisionF32:
		return "f32"
	case PrecisionBF16:
		return "bf16"
	}
	return fmt.Sprintf("precision(%d)", uint8(p))
}

// ParsePrecision reads "f32" or "bf16".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "f32", "fp32", "float32":
		return PrecisionF32, nil
	case "bf16", "bfloat16":
		return PrecisionBF16, nil
	}
	return 0, fmt.Errorf("precision %q: want f32 or bf16", s)
}

// PrecisionOf reports be's precision: backends that round (see Precision)
// say so through a Precision method; any other backend is float32.
func PrecisionOf(be Backend) Precision {
	if p, ok := be.(interface{ Precision() Precision }); ok {
		return p.Precision()
	}
	return PrecisionF32
}
