package kernelstest

import (
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// badCall is an op call with arguments that do not fit.
type badCall struct {
	name string
	call func() error
}

// normName lower-cases s and drops spaces, underscores and hyphens, so
// "Linear attention", "linear_attention" and "LinearAttention" compare
// equal.
func normName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-':
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// expectErrors runs bad calls of op: each must return a non-nil error whose
// message names the op, and must not panic.
func expectErrors(t *testing.T, op string, calls []badCall) {
	t.Helper()
	t.Run("errors", func(t *testing.T) {
		for _, bc := range calls {
			t.Run(bc.name, func(t *testing.T) {
				p, err := safeCall(bc.call)
				switch {
				case p != nil:
					t.Errorf("%s panicked instead of returning an error: %v", op, p)
				case err == nil:
					t.Errorf("%s accepted bad arguments (%s): want an error", op, bc.name)
				case !strings.Contains(normName(err.Error()), normName(op)):
					t.Errorf("%s error %q does not name the op", op, err)
				}
			})
		}
	})
}

// errCtx allocates zero-filled backend tensors for bad calls.
type errCtx struct {
	*tc
}

func newErrCtx(t *testing.T, be kernels.Backend) errCtx {
	t.Helper()
	return errCtx{begin(t, be)}
}

// f allocates a Float32 backend tensor.
func (e errCtx) f(shape ...int) *kernels.Tensor {
	e.Helper()
	return e.alloc(kernels.Float32, shape...)
}

// typed allocates a backend tensor of dtype dt.
func (e errCtx) typed(dt kernels.DType, shape ...int) *kernels.Tensor {
	e.Helper()
	return e.alloc(dt, shape...)
}
