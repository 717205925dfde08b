// Package kernels is the compute core every model runs on: the concrete
// Tensor (f32, bf16, fp16, int64/int32 storage, strided views), dtype
// conversions, and the Backend interface — the small op set the Sana models
// need (GEMM, attention, norms, convolutions, elementwise chains).
//
// Backends live in sub-packages: cpu (pure Go, always built, the
// correctness reference) and cuda (build tag cuda). kernelstest is the
// conformance suite every backend must pass against float64 references.
// Shared argument checks (check*.go) make every op return an error naming
// the op, shapes and dtypes instead of panicking.
//
// The package sits at the bottom of the import graph: it must not import
// any other package of this module (docs/architecture.md §3).
package kernels
