//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"reflect"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda/internal/cudrv"
)

// stickyResults are the driver errors that leave the CUDA context
// unusable: the driver documents for each that every later call returns
// the same error and the process must be relaunched to use CUDA again (a
// kernel touching a bad address, an uncorrectable ECC error, a hung
// launch). Any other error fails one call and the context goes on.
var stickyResults = []error{cu.IllegalAddress, cu.LaunchFailed, cu.LaunchTimeout, cu.EccUncorrectable,
	cu.HardwareStackError, cu.IllegalInstruction, cu.MisalignedAddress, cu.InvalidAddressSpace, cu.InvalidPc}

// sticky reports whether err, from gorgonia.org/cu or our own driver
// calls (cudrv), is one of stickyResults.
func sticky(err error) bool {
	var d *cudrv.Error
	asDrv := errors.As(err, &d)
	for _, r := range stickyResults {
		// A cu result is an int of an unexported type: its code by reflection.
		if errors.Is(err, r) || asDrv && int64(d.Code) == reflect.ValueOf(r).Int() {
			return true
		}
	}
	return false
}

// deviceFault returns the error of a call into a context an earlier
// sticky error broke (nil while none did): nothing more is sent to it.
func (b *Backend) deviceFault() error {
	if p := b.fault.Load(); p != nil {
		return fmt.Errorf("%w: %w (an earlier error left the CUDA context unusable)", kernels.ErrDeviceFault, *p)
	}
	return nil
}

// noteFault marks err, if sticky, as kernels.ErrDeviceFault and remembers
// it, so that the node reports the attempt as its own fault and stops
// taking work (node/ownfault.go): only a new process gets a new context.
func (b *Backend) noteFault(err error) error {
	if err == nil || errors.Is(err, kernels.ErrDeviceFault) || !sticky(err) {
		return err
	}
	if b.fault.CompareAndSwap(nil, &err) {
		b.log.Error("cuda: the GPU context is unusable after this error; the process must restart to use the GPU again", "err", err)
	}
	return fmt.Errorf("%w: %w", kernels.ErrDeviceFault, err)
}
