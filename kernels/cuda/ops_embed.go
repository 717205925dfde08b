//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Embedding gathers rows of table [V, D] for ids, times scale. The ids are
// copied to the host and validated before anything is written, as on the
// CPU (an Embedding runs once per prompt, so the synchronization is cheap).
func (b *Backend) Embedding(dst, table, ids *kernels.Tensor, scale float32) error {
	n, vocab, d, err := kernels.CheckEmbedding(dst, table, ids)
	if err != nil {
		return err
	}
	const op = "embedding"
	if err := b.device(op, dst, table, ids); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, table, ids); err != nil {
		return err
	}
	if err := b.checkIDs(ids, table, vocab); err != nil {
		return err
	}
	return b.runN(op, "embedding", n*d, dst, table, dtypeCode(table), ids, dtypeCode(ids),
		int64(n), int64(d), int64(vocab), scale)
}

// checkIDs downloads ids and checks every id is in [0, vocab).
func (b *Backend) checkIDs(ids, table *kernels.Tensor, vocab int) error {
	h := kernels.MustNew(ids.DType(), ids.Shape()...)
	if err := b.Copy(h, ids); err != nil {
		return fmt.Errorf("cuda: embedding: reading ids: %w", err)
	}
	for i := range h.Len() {
		var id int64
		if h.DType() == kernels.Int64 {
			id = h.I64()[i]
		} else {
			id = int64(h.I32()[i])
		}
		if id < 0 || id >= int64(vocab) {
			return fmt.Errorf("cuda: embedding: ids %v element %d = %d outside [0, %d) of table %v", ids, i, id, vocab, table)
		}
	}
	return nil
}

// TimestepEmbedding writes the sinusoidal embedding of t [B] (any dtype)
// into dst [B, p.Dim].
func (b *Backend) TimestepEmbedding(dst, t *kernels.Tensor, p kernels.TimestepParams) error {
	nb, err := kernels.CheckTimestepEmbedding(dst, t, p)
	if err != nil {
		return err
	}
	const op = "timestep embedding"
	if err := b.device(op, dst, t); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, t); err != nil {
		return err
	}
	if err := fit32(op, nb, p.Dim); err != nil {
		return err
	}
	maxPeriod, scale := p.MaxPeriod, p.Scale
	if maxPeriod == 0 {
		maxPeriod = 10000
	}
	if scale == 0 {
		scale = 1
	}
	lnP := float32(math.Log(float64(maxPeriod)))
	return b.runN(op, "timestep_embedding", nb*(p.Dim/2), dst, t, dtypeCode(t), int32(nb), int32(p.Dim),
		lnP, p.DownscaleFreqShift, scale, boolArg(p.FlipSinToCos))
}
