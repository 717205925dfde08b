//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Helpers shared by the op wrappers in ops_*.go. Each wrapper follows the
// same steps: the kernels.Check* function the CPU backend calls (so
// argument errors are identical), device residency (device), the aliasing
// rules of the op doc for device memory (the Check* functions only see
// host overlap), then one or more launches.

// device checks that every non-nil tensor is memory of this backend, so a
// host tensor fails with an error naming the op instead of deep inside a
// launch.
func (b *Backend) device(op string, ts ...*kernels.Tensor) error {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if _, err := b.ptr(t); err != nil {
			return fmt.Errorf("cuda: %s: %w", op, err)
		}
	}
	return nil
}

// noAlias fails when dst shares device memory with any non-nil src.
func (b *Backend) noAlias(op string, dst *kernels.Tensor, srcs ...*kernels.Tensor) error {
	for _, s := range srcs {
		if s == nil {
			continue
		}
		if o, _ := b.overlap(dst, s); o {
			return fmt.Errorf("cuda: %s: dst %v must not alias %v", op, dst, s)
		}
	}
	return nil
}

// sameOrDisjoint allows dst to be exactly src (in place) but not a partial
// overlap, which would read already-written elements.
func (b *Backend) sameOrDisjoint(op string, dst, src *kernels.Tensor) error {
	if o, same := b.overlap(dst, src); o && !same {
		return fmt.Errorf("cuda: %s: dst %v partially overlaps %v", op, dst, src)
	}
	return nil
}

// identical reports whether x and y are exactly the same device storage.
func (b *Backend) identical(x, y *kernels.Tensor) bool {
	_, same := b.overlap(x, y)
	return same
}

// run launches kernel name for op, naming the op in errors.
func (b *Backend) run(op, name string, grid, block [3]uint32, shmem uint32, args ...any) error {
	if err := b.launch(name, grid, block, shmem, args...); err != nil {
		return fmt.Errorf("cuda: %s: %w", op, err)
	}
	return nil
}

// runN launches a 1-D grid-stride kernel over n elements with 256 threads.
func (b *Backend) runN(op, name string, n int, args ...any) error {
	return b.run(op, name, gridFor(n, 256), [3]uint32{256, 1, 1}, 0, args...)
}

// fit32 fails when a size does not fit the kernel's 32-bit int parameter.
func fit32(op string, vals ...int) error {
	for _, v := range vals {
		if v < 0 || v > math.MaxInt32 {
			return fmt.Errorf("cuda: %s: size %d does not fit a 32-bit kernel argument", op, v)
		}
	}
	return nil
}

// rowGrid is the grid of a one-block-per-row kernel (they grid-stride
// over rows, so the grid may be capped).
func rowGrid(rows int) [3]uint32 {
	return [3]uint32{uint32(min(rows, 1<<20)), 1, 1}
}

// rowBlock is the block of a one-block-per-row kernel for rows of d
// elements: a multiple of 32, at most 256.
func rowBlock(d int) [3]uint32 {
	return [3]uint32{uint32(min(256, max(32, (d+31)/32*32))), 1, 1}
}

// ceilDiv is ⌈a/b⌉ for positive b.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// dtypeCode is the kernels' dtype code (the numeric kernels.DType; 0 for
// a nil optional tensor).
func dtypeCode(t *kernels.Tensor) int32 {
	if t == nil {
		return 0
	}
	return int32(t.DType())
}

// boolArg is a kernel's int flag.
func boolArg(v bool) int32 {
	if v {
		return 1
	}
	return 0
}

// notImplemented wraps kernels.ErrNotImplemented with the op and reason.
func notImplemented(op, format string, args ...any) error {
	return fmt.Errorf("cuda: %s: %s: %w", op, fmt.Sprintf(format, args...), kernels.ErrNotImplemented)
}

// elemKernel picks the kernel variant for an element size (2, 4 or 8
// bytes), for the dtype-agnostic copy and transpose kernels.
func elemKernel(base string, dt kernels.DType) (string, error) {
	switch dt.Size() {
	case 2:
		return base + "_u16", nil
	case 4:
		return base + "_u32", nil
	case 8:
		return base + "_u64", nil
	}
	return "", errors.New("cuda: unsupported element size")
}
