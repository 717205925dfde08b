// Package cuda is the NVIDIA GPU implementation of kernels.Backend.
//
// Everything except this file is behind the build tag `cuda`, because the
// package imports gorgonia.org/cu, whose init calls cuInit and exits the
// process when no GPU driver is present: only binaries built with
// `-tags cuda` (make build-cuda, make gpu-bins) contain the backend, and
// they run only on GPU hosts. CI compiles and vets the tagged code (make
// vet-cuda) but never runs its tests.
//
// Layout: backend.go (context, stream, lifecycle), memory.go (caching
// allocator, device views, scratch), copy.go (Alloc, Copy), launch.go
// (embedded PTX, kernel launch and the kernel-writing conventions),
// cublas.go and matmul.go (GEMMs through cuBLAS loaded at run time with
// purego), ops_*.go (the other ops), src/*.cu (CUDA C, compiled to the
// committed ptx/ by make ptx), internal/cudrv (cgo for what cu lacks).
package cuda
