package dcae

import (
	"fmt"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// Model is a loaded autoencoder bound to a backend. Its methods may be
// called from several goroutines (each call has its own temporaries).
type Model struct {
	cfg Config
	w   *Weights
	be  kernels.Backend

	// trace, when set (tests), receives the NHWC output of every stem and
	// stage under the golden files' intermediate names.
	trace func(name string, nhwc *kernels.Tensor)

	placeOnce sync.Once
	placeErr  error
}

// ready moves the weights into the backend's memory on first use (a no-op
// for the CPU backend), rounding the conv and Linear matrices to bf16
// first when the backend runs in kernels.PrecisionBF16. The model owns w
// from New on: a device backend replaces its host tensors with device ones.
func (m *Model) ready() error {
	m.placeOnce.Do(func() {
		if m.placeErr = nn.NarrowBF16(m.be, m.w.matrices()); m.placeErr == nil {
			m.placeErr = nn.Place(m.be, m.w)
		}
	})
	return m.placeErr
}

// New returns a model computing with be.
func New(cfg Config, w *Weights, be kernels.Backend) *Model {
	return &Model{cfg: cfg, w: w, be: be}
}

// Config returns the model's config.
func (m *Model) Config() Config { return m.cfg }

// Backend returns the backend the model computes with.
func (m *Model) Backend() kernels.Backend { return m.be }

// run records the first error of a sequence of backend calls, so forward
// code reads as the math; calls after an error are skipped. Temporaries
// come from a per-call pool keyed by element count and go back to it with
// free: a decode allocates the same few sizes per stage over and over,
// and at 1024² each is hundreds of MB. The pool dies with the call, so a
// model does not pin gigabytes between images.
type run struct {
	be   kernels.Backend
	err  error
	pool map[int][]*kernels.Tensor
}

func newRun(be kernels.Backend) *run {
	return &run{be: be, pool: map[int][]*kernels.Tensor{}}
}

// alloc returns a Float32 temporary whose contents are garbage (every op
// writes all of its destination).
func (r *run) alloc(shape ...int) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if free := r.pool[n]; len(free) > 0 {
		t := free[len(free)-1]
		r.pool[n] = free[:len(free)-1]
		return t.MustReshape(shape...)
	}
	t, err := r.be.Alloc(kernels.Float32, shape...)
	if err != nil {
		r.err = fmt.Errorf("allocating %v: %w", shape, err)
	}
	return t
}

// free hands temporaries back to the pool (nil entries are ignored).
func (r *run) free(ts ...*kernels.Tensor) {
	for _, t := range ts {
		if t != nil {
			r.pool[t.Len()] = append(r.pool[t.Len()], t)
		}
	}
}

func (r *run) do(f func() error) {
	if r.err == nil {
		r.err = f()
	}
}

// conv3 is a 3×3 conv with padding 1 and the given stride.
func (r *run) conv3(dst, x *kernels.Tensor, c conv, stride int) {
	r.do(func() error {
		return r.be.Conv2D(dst, x, c.w, c.b, kernels.ConvParams{Stride: stride, Pad: 1, Groups: 1})
	})
}

func (r *run) linear(dst, x *kernels.Tensor, w, b *kernels.Tensor) {
	r.do(func() error { return r.be.MatMul(dst, x, w, b) })
}

// addNorm computes x += RMSNorm(y)·w + b over channels (eps 1e-5), the
// residual tail of every DC-AE block; y is overwritten.
func (r *run) addNorm(x, y *kernels.Tensor, n norm) {
	r.do(func() error { return r.be.RMSNorm(y, y, n.w, n.b, kernels.NormParams{Eps: 1e-5}) })
	r.do(func() error { return r.be.Add(x, x, y) })
}

// toNHWC transposes NCHW [B, C, H, W] to a new NHWC temporary.
func (r *run) toNHWC(x *kernels.Tensor) *kernels.Tensor {
	B, C, H, W := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	out := r.alloc(B, H, W, C)
	r.do(func() error { return r.be.Transpose(out.MustReshape(B, H*W, C), x.MustReshape(B, C, H*W)) })
	return out
}

// toNCHW transposes NHWC [B, H, W, C] into a new (not pooled) NCHW tensor.
func (r *run) toNCHW(x *kernels.Tensor) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	B, H, W, C := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	out, err := r.be.Alloc(kernels.Float32, B, C, H, W)
	if err != nil {
		r.err = fmt.Errorf("allocating output: %w", err)
		return nil
	}
	r.do(func() error { return r.be.Transpose(out.MustReshape(B, C, H*W), x.MustReshape(B, H*W, C)) })
	return out
}

// emit passes a stage output to the trace hook.
func (m *Model) emit(r *run, name string, x *kernels.Tensor) {
	if m.trace != nil && r.err == nil {
		r.do(m.be.Sync)
		m.trace(name, x)
	}
}

// checkImage validates an NCHW Float32 input with channels c.
func checkNCHW(what string, x *kernels.Tensor, c int) error {
	if x == nil || x.Rank() != 4 || x.Dim(1) != c || x.Dim(0) < 1 || x.Dim(2) < 1 || x.Dim(3) < 1 {
		return fmt.Errorf("%s %v: want NCHW [B, %d, H, W]", what, x, c)
	}
	if x.DType() != kernels.Float32 {
		return fmt.Errorf("%s %v: want Float32", what, x)
	}
	return nil
}
