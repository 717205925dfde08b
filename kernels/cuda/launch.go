//go:build cuda

// Kernel conventions (for kernels/cuda/src/*.cu and the Go op wrappers):
//
//   - Every kernel is `extern "C" __global__` so its PTX name is the plain
//     C name; b.launch finds it by that name in any embedded module. Names
//     are snake_case and unique across all .cu files.
//   - `make ptx` compiles each src/NAME.cu with nvcc -ptx -O3 (no
//     --use_fast_math) for compute_80 and compute_90 into ptx/NAME.sm80.ptx
//     and ptx/NAME.sm90.ptx; the files are committed and embedded, and
//     `make ptx-check` fails when they are stale. The backend loads the
//     sm90 set on compute capability ≥ 9.0 and the sm80 set otherwise.
//   - Prefer grid-stride loops (for (i = blockIdx.x*blockDim.x +
//     threadIdx.x; i < n; i += gridDim.x*blockDim.x)) so any grid size is
//     correct; gridFor picks a 1-D grid.
//   - Argument types: pointers are cu.DevicePtr or *kernels.Tensor (device
//     tensors of this backend; nil gives a null pointer) on the Go side and
//     `float*`, `const unsigned short*` (bf16/f16 bits), ... in C; sizes and
//     indices are int32 (C int) unless a value can exceed 2^31−1, then
//     int64 (C long long); also uint32 and float32. A plain Go int is
//     rejected because its C size would be ambiguous.
//   - Device storage is contiguous row-major; bf16 and f16 are 16-bit bit
//     patterns; compute in float32.
//   - Launches are asynchronous on the backend's stream; kernel faults show
//     up at the next Sync (or device→host Copy).
//   - A launch with a zero grid dimension is skipped (empty tensors).
//   - Dynamic shared memory above 48 KiB is allowed: launch raises the
//     function's limit first (cuFuncSetAttribute).

package cuda

import (
	"embed"
	"fmt"
	"io/fs"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda/internal/cudrv"
)

//go:embed ptx/*.ptx
var ptxFS embed.FS

// kernelFunc is a resolved kernel with the dynamic shared memory limit set
// so far.
type kernelFunc struct {
	fn       uintptr
	mu       sync.Mutex
	maxShmem uint32
}

// ptxSuffix picks the PTX set for compute capability sm.
func ptxSuffix(sm int) (string, error) {
	switch {
	case sm >= 90:
		return ".sm90.ptx", nil
	case sm >= 80:
		return ".sm80.ptx", nil
	}
	return "", fmt.Errorf("cuda: compute capability %d.%d is not supported (need 8.0 or newer)", sm/10, sm%10)
}

// loadModules JIT-loads every embedded PTX module of the device's set; the
// caller is inside with.
func (b *Backend) loadModules() error {
	suffix, err := ptxSuffix(b.sm)
	if err != nil {
		return err
	}
	names, err := fs.Glob(ptxFS, "ptx/*"+suffix)
	if err != nil {
		return fmt.Errorf("cuda: listing embedded ptx: %w", err)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("cuda: no embedded ptx/*%s modules", suffix)
	}
	for _, name := range names {
		src, err := ptxFS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("cuda: reading %s: %w", name, err)
		}
		m, err := cu.LoadData(string(src))
		if err != nil {
			return fmt.Errorf("cuda: loading module %s for sm_%d: %w", name, b.sm, err)
		}
		b.mods = append(b.mods, m)
	}
	return nil
}

// function returns the kernel called name from any loaded module, cached
// per backend; the caller is inside with.
func (b *Backend) function(name string) (*kernelFunc, error) {
	b.fnMu.RLock()
	f := b.fns[name]
	b.fnMu.RUnlock()
	if f != nil {
		return f, nil
	}
	for _, m := range b.mods {
		fn, err := m.Function(name)
		if err != nil {
			continue
		}
		f = &kernelFunc{fn: *(*uintptr)(unsafe.Pointer(&fn))} // cu.Function holds only the handle
		b.fnMu.Lock()
		if g := b.fns[name]; g != nil {
			f = g
		} else {
			b.fns[name] = f
		}
		b.fnMu.Unlock()
		return f, nil
	}
	return nil, fmt.Errorf("cuda: kernel %q not found in the embedded ptx modules", name)
}

// launch enqueues kernel name on the backend's stream with the given grid
// and block dimensions, dynamic shared memory in bytes and arguments (see
// the conventions at the top of this file). Errors name the kernel.
func (b *Backend) launch(name string, grid, block [3]uint32, shmem uint32, args ...any) error {
	if grid[0] == 0 || grid[1] == 0 || grid[2] == 0 {
		return nil
	}
	if len(args) > cudrv.MaxArgs {
		return fmt.Errorf("cuda: launch %s: %d arguments, at most %d", name, len(args), cudrv.MaxArgs)
	}
	var buf [cudrv.MaxArgs]uint64
	vals := buf[:len(args)]
	for i, a := range args {
		v, err := b.marshalArg(a)
		if err != nil {
			return fmt.Errorf("cuda: launch %s: argument %d: %w", name, i, err)
		}
		vals[i] = v
	}
	err := b.with(func() error {
		f, err := b.function(name)
		if err != nil {
			return err
		}
		if err := f.allowShmem(shmem); err != nil {
			return fmt.Errorf("cuda: launch %s: %d bytes of shared memory: %w", name, shmem, err)
		}
		return b.prof.around(b.stream, name, func() error {
			if err := cudrv.Launch(f.fn, grid, block, shmem, b.streamHandle(), vals); err != nil {
				return fmt.Errorf("cuda: launch %s grid %v block %v shmem %d: %w", name, grid, block, shmem, err)
			}
			return nil
		})
	})
	runtime.KeepAlive(args) // tensors stay reachable until the launch is enqueued
	return err
}

// allowShmem raises the function's dynamic shared memory limit when a
// launch needs more than the default 48 KiB.
func (f *kernelFunc) allowShmem(shmem uint32) error {
	if shmem <= 48<<10 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if shmem <= f.maxShmem {
		return nil
	}
	if err := cudrv.SetMaxDynamicSharedMemory(f.fn, int(shmem)); err != nil {
		return err
	}
	f.maxShmem = shmem
	return nil
}

// marshalArg turns one kernel argument into its slot value.
func (b *Backend) marshalArg(a any) (uint64, error) {
	switch v := a.(type) {
	case cu.DevicePtr:
		return uint64(v), nil
	case *kernels.Tensor:
		p, err := b.ptr(v)
		return uint64(p), err
	case int32:
		return uint64(uint32(v)), nil
	case uint32:
		return uint64(v), nil
	case int64:
		return uint64(v), nil
	case uint64:
		return v, nil
	case float32:
		return uint64(math.Float32bits(v)), nil
	case int:
		return 0, fmt.Errorf("Go int %d: pass int32 or int64 to match the kernel's C type", v)
	}
	return 0, fmt.Errorf("unsupported type %T", a)
}

// gridFor returns a 1-D grid of threads-per-block blocks covering n
// elements, capped for grid-stride kernels (enough blocks to fill an
// H200 several times over).
func gridFor(n, threads int) [3]uint32 {
	const maxBlocks = 132 * 32
	blocks := (n + threads - 1) / threads
	return [3]uint32{uint32(min(blocks, maxBlocks)), 1, 1}
}

// int32Arg converts a size for a kernel's int parameter, failing when it
// does not fit (the kernel would need an int64 variant).
func int32Arg(op string, what string, v int) (int32, error) {
	if v < 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("cuda: %s: %s %d does not fit a 32-bit kernel argument", op, what, v)
	}
	return int32(v), nil
}

// ptxModules lists the embedded module base names (for diagnostics).
func ptxModules() []string {
	names, _ := fs.Glob(ptxFS, "ptx/*.sm90.ptx")
	for i, n := range names {
		names[i] = strings.TrimSuffix(strings.TrimPrefix(n, "ptx/"), ".sm90.ptx")
	}
	return names
}
