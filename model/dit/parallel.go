package dit

import (
	"context"
	"fmt"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Comm is the communication a parallel forward needs from its group of
// ranks (shard.Transport satisfies it). Every rank must issue the same
// collectives in the same order; a Comm is used by one forward at a time
// and by at most one collective at a time.
type Comm interface {
	// Rank is this rank's index in [0, Size).
	Rank() int
	// Size is the number of ranks.
	Size() int
	// AllReduce replaces buf with the element-wise sum of every rank's
	// buf; every rank ends with bitwise identical values.
	AllReduce(ctx context.Context, buf []float32) error
	// AllGather returns every rank's in, indexed by rank (lengths may
	// differ between ranks).
	AllGather(ctx context.Context, in []float32) ([][]float32, error)
	// Exchange sends toPrev to rank−1 and toNext to rank+1 and returns
	// what they sent this rank (nil at the ends of the group).
	Exchange(ctx context.Context, toPrev, toNext []float32) (fromPrev, fromNext []float32, err error)
}

// Mode is how a parallel model splits one forward over its ranks.
type Mode uint8

// Parallel modes.
const (
	// TensorParallel splits the attention heads and Mix-FFN channels:
	// column-parallel q/k/v and conv_inverted, row-parallel to_out and
	// conv_point followed by one all-reduce each (three per block).
	TensorParallel Mode = iota + 1
	// SequenceParallel gives each rank a band of whole latent rows: the
	// linear attention all-reduces each head's K·Vᵀ and ΣK state, the
	// depthwise conv exchanges one halo row with each neighbour.
	SequenceParallel
)

// String names the mode as the --parallel flag spells it.
func (p Mode) String() string {
	switch p {
	case TensorParallel:
		return "tp"
	case SequenceParallel:
		return "sp"
	}
	return fmt.Sprintf("mode(%d)", uint8(p))
}

type parallel struct {
	mode       Mode
	comm       Comm
	rank, size int
}

// NewParallel returns rank comm.Rank()'s part of a model split over
// comm.Size() ranks. Its Forward takes and returns the whole latents on
// every rank (all ranks must call it with the same arguments), so a
// denoising loop runs unchanged on each rank. For TensorParallel, w is
// either the full weights (sharded here) or this rank's Shard.
//
// The math stays in this package: the block code calls project, qkNorm,
// linAttnBands and mixFFNBands, which reduce to the single-rank ops when
// the model is not parallel.
func NewParallel(cfg Config, w *Weights, be kernels.Backend, comm Comm, mode Mode) (*Model, error) {
	rank, size := comm.Rank(), comm.Size()
	switch mode {
	case TensorParallel:
		if w.part.size == 0 {
			var err error
			if w, err = Shard(cfg, w, rank, size); err != nil {
				return nil, err
			}
		}
		if w.part != (part{rank, size}) {
			return nil, fmt.Errorf("dit: weights are shard %d of %d, comm is rank %d of %d", w.part.rank, w.part.size, rank, size)
		}
	case SequenceParallel:
		if w.part.size != 0 {
			return nil, fmt.Errorf("dit: sequence parallelism needs the full weights, not shard %d of %d", w.part.rank, w.part.size)
		}
	default:
		return nil, fmt.Errorf("dit: unknown parallel mode %d", mode)
	}
	m := New(cfg, w, be)
	m.par = &parallel{mode: mode, comm: comm, rank: rank, size: size}
	return m, nil
}

func (m *Model) tp() bool { return m.par != nil && m.par.mode == TensorParallel }
func (m *Model) sp() bool { return m.par != nil && m.par.mode == SequenceParallel }

// localDim is the width of this rank's q/k/v (D/d under tensor parallelism).
func (m *Model) localDim() int {
	if m.tp() {
		return m.cfg.Dim() / m.par.size
	}
	return m.cfg.Dim()
}

func (m *Model) heads() int {
	if m.tp() {
		return m.cfg.NumAttentionHeads / m.par.size
	}
	return m.cfg.NumAttentionHeads
}

func (m *Model) crossHeads() int {
	if m.tp() {
		return m.cfg.NumCrossAttnHeads / m.par.size
	}
	return m.cfg.NumCrossAttnHeads
}

// hostF32 returns a host Float32 tensor with t's contents and a function
// that writes it back into t (both no-ops for a host tensor, which is
// returned itself).
func (r *run) hostF32(t *kernels.Tensor) (*kernels.Tensor, func()) {
	if r.err != nil {
		return nil, func() {}
	}
	if t.OnHost() && t.DType() == kernels.Float32 {
		return t, func() {}
	}
	h, err := kernels.New(kernels.Float32, t.Shape()...)
	if err == nil {
		err = r.be.Copy(h, t)
	}
	r.err = err
	return h, func() { r.do(func() error { return r.be.Copy(t, h) }) }
}

// start runs the collective f in the background and returns the function
// that waits for it (its error becomes the run's). Callers wait before
// starting the next collective, so every rank issues them in one order.
func (r *run) start(f func(ctx context.Context) error) (wait func()) {
	if r.err != nil {
		return func() {}
	}
	done := make(chan error, 1)
	go func() { done <- f(r.ctx) }()
	return func() {
		if err := <-done; err != nil && r.err == nil {
			r.err = fmt.Errorf("collective: %w", err)
		}
	}
}

// startAllReduce all-reduces t in the background.
func (r *run) startAllReduce(m *Model, t *kernels.Tensor) (wait func()) {
	h, back := r.hostF32(t)
	if r.err != nil {
		return func() {}
	}
	w := r.start(func(ctx context.Context) error { return m.par.comm.AllReduce(ctx, h.F32()) })
	return func() { w(); back() }
}

// projectChunks is how many token chunks a tensor-parallel row-parallel
// projection is cut into, so the all-reduce of one overlaps the GEMM of
// the next.
const projectChunks = 4

// project computes dst = x·Wᵀ + b. Under tensor parallelism W holds this
// rank's input columns (and b only on rank 0), so dst is a partial sum:
// it is all-reduced chunk by chunk, each chunk's transfer overlapping the
// next chunk's GEMM.
func (m *Model) project(r *run, dst, x *kernels.Tensor, l linear) {
	if !m.tp() || r.err != nil {
		r.linear(dst, x, l)
		return
	}
	rows := dst.Len() / dst.Dim(dst.Rank()-1)
	d2 := dst.MustReshape(rows, dst.Dim(dst.Rank()-1))
	x2 := x.MustReshape(rows, x.Dim(x.Rank()-1))
	n := max(1, min(projectChunks, rows/64))
	wait := func() {}
	for c := range n {
		lo, hi := c*rows/n, (c+1)*rows/n
		dv, _ := d2.Slice(lo, hi)
		xv, _ := x2.Slice(lo, hi)
		r.linear(dv, xv, l)
		wait()
		wait = r.startAllReduce(m, dv)
	}
	wait()
}

// qkNorm applies the q/k RMSNorm across all heads to each xs[i] with
// weight ws[i]. Under tensor parallelism the heads are spread over the
// ranks: it starts one all-reduce of every token's partial sum of squares
// and returns the function that waits for it and scales the rows, so the
// caller can compute meanwhile. Otherwise it normalises at once.
func (m *Model) qkNorm(r *run, xs, ws []*kernels.Tensor) (finish func()) {
	if !m.tp() {
		for i, x := range xs {
			r.do(func() error { return m.be.RMSNorm(x, x, ws[i], nil, kernels.NormParams{Eps: 1e-5}) })
		}
		return func() {}
	}
	if r.err != nil {
		return func() {}
	}
	Dl := xs[0].Dim(xs[0].Rank() - 1)
	rows := xs[0].Len() / Dl
	ss := r.alloc(len(xs), rows)
	if r.err != nil {
		return func() {}
	}
	for i, x := range xs {
		sq := r.alloc(rows, Dl)
		s, _ := ss.SliceLeading(i)
		r.do(func() error { return m.be.Mul(sq, x.MustReshape(rows, Dl), x.MustReshape(rows, Dl)) })
		r.do(func() error { return m.be.Reduce(s, sq, kernels.ReduceSum) })
	}
	wait := r.startAllReduce(m, ss)
	return func() {
		wait()
		m.scaleRows(r, ss, xs, ws)
	}
}

// scaleRows sets x ← x/√(ss/D + eps) ⊙ w for each xs[i] with the summed
// squares ss[i] (one per token), as a batched 1×1·1×Dl matmul.
func (m *Model) scaleRows(r *run, ss *kernels.Tensor, xs, ws []*kernels.Tensor) {
	h, _ := r.hostF32(ss)
	if r.err != nil {
		return
	}
	inv := kernels.MustNew(kernels.Float32, h.Len())
	D := float64(m.cfg.Dim())
	for j, v := range h.F32() {
		inv.F32()[j] = float32(1 / math.Sqrt(float64(v)/D+1e-5))
	}
	Dl := xs[0].Dim(xs[0].Rank() - 1)
	rows := xs[0].Len() / Dl
	f := r.alloc(len(xs)*rows, 1, 1)
	if r.err != nil {
		return
	}
	r.do(func() error { return m.be.Copy(f, inv.MustReshape(len(xs)*rows, 1, 1)) })
	for i, x := range xs {
		fi, _ := f.Slice(i*rows, (i+1)*rows)
		tmp := r.alloc(rows, 1, Dl)
		xv := x.MustReshape(rows, 1, Dl)
		r.do(func() error { return m.be.BatchMatMul(tmp, fi, xv, false, 1) })
		r.do(func() error { return m.be.Mul(xv, tmp, ws[i]) })
	}
}
