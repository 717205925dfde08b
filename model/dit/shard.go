package dit

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// part records which tensor-parallel slice a Weights holds (size 0: the
// whole model).
type part struct{ rank, size int }

// CheckTensorParallel reports whether c can be split over size ranks by
// tensor parallelism: every head count and the Mix-FFN width must divide.
func CheckTensorParallel(c Config, size int) error {
	switch {
	case size < 1:
		return fmt.Errorf("dit: tensor parallel degree %d", size)
	case c.NumAttentionHeads%size != 0:
		return fmt.Errorf("dit: tensor parallel degree %d does not divide %d attention heads", size, c.NumAttentionHeads)
	case c.NumCrossAttnHeads%size != 0:
		return fmt.Errorf("dit: tensor parallel degree %d does not divide %d cross-attention heads", size, c.NumCrossAttnHeads)
	case c.Hidden()%size != 0:
		return fmt.Errorf("dit: tensor parallel degree %d does not divide the Mix-FFN width %d", size, c.Hidden())
	}
	return nil
}

// Shard returns rank's tensor-parallel slice of the full weights w (host
// tensors, as Load returns them), so each rank holds about 1/size of the
// block weights:
//
//   - attn1/attn2 to_q, to_k, to_v and the qk-norm weights: the rows of
//     this rank's heads (column-parallel);
//   - attn1/attn2 to_out and ff.conv_point: the matching input columns
//     (row-parallel); their bias stays on rank 0 only, so the all-reduce
//     of the partial outputs adds it once;
//   - ff.conv_inverted and ff.conv_depth: the value channels
//     [r·H/d, (r+1)·H/d) followed by the same gate channels H + [...], so
//     the value-first GLU pairs them correctly on every rank.
//
// Embeddings, modulation tables, the caption projection and the final
// layer are shared, not copied.
func Shard(c Config, w *Weights, rank, size int) (*Weights, error) {
	if err := CheckTensorParallel(c, size); err != nil {
		return nil, err
	}
	if rank < 0 || rank >= size {
		return nil, fmt.Errorf("dit: shard rank %d of %d", rank, size)
	}
	if w.hasLoRA() {
		return nil, fmt.Errorf("dit: unfused LoRA cannot be tensor-sharded; fuse it into the weights at load")
	}
	if w.part.size != 0 {
		return nil, fmt.Errorf("dit: weights are already shard %d of %d", w.part.rank, w.part.size)
	}
	out := *w
	out.part = part{rank, size}
	out.blocks = make([]block, len(w.blocks))
	for i := range w.blocks {
		b, err := shardBlock(c, &w.blocks[i], rank, size)
		if err != nil {
			return nil, fmt.Errorf("dit: sharding block %d: %w", i, err)
		}
		out.blocks[i] = b
	}
	return &out, nil
}

func shardBlock(c Config, b *block, rank, size int) (block, error) {
	D, H := c.Dim(), c.Hidden()
	dl, hl := D/size, H/size
	heads := []span{{rank * dl, dl}}
	ffn := []span{{rank * hl, hl}, {H + rank*hl, hl}}
	s := &slicer{}
	col := func(l linear) linear {
		o := linear{w: s.cols(l.w, rank*(l.w.Dim(1)/size), l.w.Dim(1)/size)}
		if rank == 0 {
			o.b = l.b
		}
		return o
	}
	out := block{
		sst: b.sst,
		q1:  s.lin(b.q1, heads), k1: s.lin(b.k1, heads), v1: s.lin(b.v1, heads), o1: col(b.o1),
		q2: s.lin(b.q2, heads), k2: s.lin(b.k2, heads), v2: s.lin(b.v2, heads), o2: col(b.o2),
		nq1: s.rows(b.nq1, heads), nk1: s.rows(b.nk1, heads), nq2: s.rows(b.nq2, heads), nk2: s.rows(b.nk2, heads),
		ffIn:     s.lin(b.ffIn, ffn),
		ffDepthW: s.rows(b.ffDepthW, ffn),
		ffDepthB: s.rows(b.ffDepthB, ffn),
		ffOut:    col(b.ffOut),
	}
	return out, s.err
}

// span is a run of n rows starting at lo.
type span struct{ lo, n int }

// slicer copies row and column ranges of host weight tensors (any float
// dtype), recording the first error.
type slicer struct{ err error }

func (s *slicer) lin(l linear, sp []span) linear {
	return linear{w: s.rows(l.w, sp), b: s.rows(l.b, sp)}
}

// rows gathers the given spans of t's leading dimension into a new tensor.
func (s *slicer) rows(t *kernels.Tensor, sp []span) *kernels.Tensor {
	if t == nil || s.err != nil {
		return nil
	}
	if !t.OnHost() {
		s.err = fmt.Errorf("sharding %v: weights must be on the host", t)
		return nil
	}
	n := 0
	for _, x := range sp {
		n += x.n
	}
	shape := append([]int{n}, t.Shape()[1:]...)
	out, err := kernels.New(t.DType(), shape...)
	if err != nil {
		s.err = err
		return nil
	}
	row := t.Len() / t.Dim(0)
	at := 0
	for _, x := range sp {
		lo, hi := x.lo*row, (x.lo+x.n)*row
		switch {
		case t.DType() == kernels.Float32:
			copy(out.F32()[at:], t.F32()[lo:hi])
		case t.DType().IsHalf():
			copy(out.U16()[at:], t.U16()[lo:hi])
		default:
			s.err = fmt.Errorf("sharding %v: not a float tensor", t)
			return nil
		}
		at += hi - lo
	}
	return out
}

// cols copies columns [lo, lo+n) of the matrix t [R, C].
func (s *slicer) cols(t *kernels.Tensor, lo, n int) *kernels.Tensor {
	if t == nil || s.err != nil {
		return nil
	}
	if !t.OnHost() || t.Rank() != 2 {
		s.err = fmt.Errorf("sharding %v: want a host matrix", t)
		return nil
	}
	R, C := t.Dim(0), t.Dim(1)
	out, err := kernels.New(t.DType(), R, n)
	if err != nil {
		s.err = err
		return nil
	}
	for r := range R {
		switch {
		case t.DType() == kernels.Float32:
			copy(out.F32()[r*n:(r+1)*n], t.F32()[r*C+lo:r*C+lo+n])
		case t.DType().IsHalf():
			copy(out.U16()[r*n:(r+1)*n], t.U16()[r*C+lo:r*C+lo+n])
		default:
			s.err = fmt.Errorf("sharding %v: not a float tensor", t)
			return nil
		}
	}
	return out
}
