//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda/internal/cudrv"
)

// TestDeviceFault: a sticky driver error (from gorgonia.org/cu or our own
// driver calls) marks the backend broken — that error and every later
// call carry kernels.ErrDeviceFault, and nothing more reaches the GPU —
// while any other error passes through unmarked. (No GPU work: the
// backend is never opened; the binary still needs a GPU to start.)
func TestDeviceFault(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		sticky bool
	}{
		{"cu illegal address", fmt.Errorf("cuda: sync: %w", cu.IllegalAddress), true},
		{"cu ECC", cu.EccUncorrectable, true},
		{"driver launch failed", fmt.Errorf("cuda: launch x: %w", &cudrv.Error{Code: 719, Name: "CUDA_ERROR_LAUNCH_FAILED"}), true},
		{"cu out of memory", cu.OutOfMemory, false},
		{"driver invalid value", &cudrv.Error{Code: 1, Name: "CUDA_ERROR_INVALID_VALUE"}, false},
		{"not a driver error", errors.New("cuda: matmul: shapes differ"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &Backend{log: slog.New(slog.DiscardHandler)}
			err := b.noteFault(c.err)
			if got := errors.Is(err, kernels.ErrDeviceFault); got != c.sticky || !errors.Is(err, c.err) {
				t.Fatalf("noteFault(%v) = %v: device fault %v, want %v (and the cause kept)", c.err, err, got, c.sticky)
			}
			if !c.sticky {
				if b.deviceFault() != nil {
					t.Fatalf("a passing error marked the backend broken: %v", b.deviceFault())
				}
				return
			}
			later := b.with(func() error { t.Error("a broken context was used again"); return nil })
			if !errors.Is(later, kernels.ErrDeviceFault) || !errors.Is(later, c.err) {
				t.Fatalf("a call after the fault = %v, want the device fault naming %v", later, c.err)
			}
		})
	}
}

// TestIllegalAddressIsDeviceFault: a kernel that touches an address no
// allocation holds breaks the context for good (CUDA_ERROR_ILLEGAL_ADDRESS
// at the next sync), and the backend reports it as kernels.ErrDeviceFault
// and refuses every later call. It breaks the process's primary context,
// which every backend of the process shares, so it runs only in a process
// of its own: scripts/gpu-check.sh sets SANAFARM_CUDA_FAULT_TEST=1 for it.
func TestIllegalAddressIsDeviceFault(t *testing.T) {
	if os.Getenv("SANAFARM_CUDA_FAULT_TEST") != "1" {
		t.Skip("breaks the CUDA context of the process: run alone with SANAFARM_CUDA_FAULT_TEST=1 (scripts/gpu-check.sh)")
	}
	b, err := New(Config{})
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	const n = 1 << 20
	bad := cu.DevicePtr(16) // below any allocation
	err = b.with(func() error { return b.runN("fault", "add_bcast", n, bad, bad, bad, int64(n), int64(1)) })
	if err == nil {
		err = b.Sync() // a kernel's fault shows at the next sync
	}
	if !errors.Is(err, kernels.ErrDeviceFault) {
		t.Fatalf("a kernel touching address 16 = %v, want kernels.ErrDeviceFault", err)
	}
	if _, err := b.Alloc(kernels.Float32, 8); !errors.Is(err, kernels.ErrDeviceFault) {
		t.Fatalf("an Alloc after the fault = %v, want the device fault again", err)
	}
	t.Logf("fault: %v", err)
}
