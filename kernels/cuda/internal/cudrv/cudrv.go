//go:build cuda

// Package cudrv fills the gaps of gorgonia.org/cu with direct CUDA driver
// calls: a kernel launch that passes each argument with its real size (cu's
// Function.Launch copies exactly 8 bytes per argument, which corrupts
// 4-byte ints and floats) and cuFuncSetAttribute for dynamic shared memory
// above 48 KiB. Handles cross the package boundary as uintptr so this
// package does not depend on cu's cgo types.
package cudrv

/*
#cgo LDFLAGS: -lcuda
#cgo linux LDFLAGS: -L/usr/local/cuda/lib64 -L/usr/lib/x86_64-linux-gnu/stubs -L/usr/local/cuda/lib64/stubs
#cgo linux CFLAGS: -I/usr/local/cuda/include
#include <cuda.h>
#include <stdint.h>

// launch builds the kernelParams array in C memory: params[i] points at
// vals[i], whose low bytes (little-endian) hold the argument, so the driver
// reads exactly as many bytes as the kernel's parameter declares.
static CUresult sf_launch(uintptr_t fn, unsigned gx, unsigned gy, unsigned gz,
		unsigned bx, unsigned by, unsigned bz, unsigned shmem, uintptr_t stream,
		uint64_t *vals, int n) {
	void *params[64];
	for (int i = 0; i < n; i++) {
		params[i] = &vals[i];
	}
	return cuLaunchKernel((CUfunction)fn, gx, gy, gz, bx, by, bz, shmem,
		(CUstream)stream, n > 0 ? params : NULL, NULL);
}

static CUresult sf_set_max_dyn_shmem(uintptr_t fn, int bytes) {
	return cuFuncSetAttribute((CUfunction)fn,
		CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
}

static const char *sf_error_name(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL) {
		return "CUDA_ERROR_UNKNOWN";
	}
	return s;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// MaxArgs is the most kernel arguments Launch accepts.
const MaxArgs = 64

// Error is a CUresult other than CUDA_SUCCESS.
type Error struct {
	Code int
	Name string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d)", e.Name, e.Code) }

func check(r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return &Error{Code: int(r), Name: C.GoString(C.sf_error_name(r))}
}

// Launch enqueues fn on stream. vals holds one argument per element in its
// low-order bytes (a 4-byte int or float is zero-extended into its slot).
// The driver copies the argument values before returning, so vals may be
// reused immediately.
func Launch(fn uintptr, grid, block [3]uint32, shmem uint32, stream uintptr, vals []uint64) error {
	if len(vals) > MaxArgs {
		return fmt.Errorf("cudrv: launch: %d arguments, at most %d", len(vals), MaxArgs)
	}
	var p *C.uint64_t
	if len(vals) > 0 {
		p = (*C.uint64_t)(unsafe.Pointer(&vals[0]))
	}
	return check(C.sf_launch(C.uintptr_t(fn), C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), C.uint(shmem), C.uintptr_t(stream),
		p, C.int(len(vals))))
}

// SetMaxDynamicSharedMemory raises fn's dynamic shared-memory limit, which
// a launch needs above the 48 KiB default.
func SetMaxDynamicSharedMemory(fn uintptr, bytes int) error {
	return check(C.sf_set_max_dyn_shmem(C.uintptr_t(fn), C.int(bytes)))
}
