package shard

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
)

// batchSplit is CFG parallelism: the batch is cut into Size equal parts
// and rank k runs part k with the full weights. Under classifier-free
// guidance the loop's batch is [unconditional; conditional], so with two
// ranks each computes one branch, and the only traffic is one all-gather
// of the velocities per step.
type batchSplit struct {
	m *dit.Model
	t Transport
}

func (b *batchSplit) Config() dit.Config       { return b.m.Config() }
func (b *batchSplit) Backend() kernels.Backend { return b.m.Backend() }

// part returns this rank's range of a batch of n.
func (b *batchSplit) part(n int) (lo, hi int, err error) {
	d := b.t.Size()
	if n%d != 0 {
		return 0, 0, fmt.Errorf("shard: batch %d does not split over %d ranks (cfg parallel needs classifier-free guidance)", n, d)
	}
	k := b.t.Rank()
	return k * n / d, (k + 1) * n / d, nil
}

// PrepareCond prepares this rank's part of the caption batch only.
func (b *batchSplit) PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*dit.Cond, error) {
	if enc == nil || enc.Rank() != 3 {
		return nil, fmt.Errorf("shard: caption embeddings %v, want [B, T, C]", enc)
	}
	lo, hi, err := b.part(enc.Dim(0))
	if err != nil {
		return nil, err
	}
	e, err := leading(b.m.Backend(), enc, lo, hi)
	if err != nil {
		return nil, err
	}
	var mk *kernels.Tensor
	if mask != nil {
		if mk, err = leading(b.m.Backend(), mask, lo, hi); err != nil {
			return nil, err
		}
	}
	return b.m.PrepareCond(ctx, e, mk)
}

// Forward runs this rank's part of x and gathers the others'.
func (b *batchSplit) Forward(ctx context.Context, x *kernels.Tensor, ts, guidance []float32, cd *dit.Cond) (*kernels.Tensor, error) {
	if x == nil || x.Rank() != 4 {
		return nil, fmt.Errorf("shard: latents %v, want [B, C, h, w]", x)
	}
	lo, hi, err := b.part(x.Dim(0))
	if err != nil {
		return nil, err
	}
	if len(ts) != x.Dim(0) || (guidance != nil && len(guidance) != x.Dim(0)) {
		return nil, fmt.Errorf("shard: %d timesteps and %d guidance values for batch %d", len(ts), len(guidance), x.Dim(0))
	}
	xs, err := leading(b.m.Backend(), x, lo, hi)
	if err != nil {
		return nil, err
	}
	var g []float32
	if guidance != nil {
		g = guidance[lo:hi]
	}
	out, err := b.m.Forward(ctx, xs, ts[lo:hi], g, cd)
	if err != nil {
		return nil, err
	}
	host, err := kernels.Download(b.m.Backend(), out)
	if err != nil {
		return nil, err
	}
	parts, err := b.t.AllGather(ctx, host.F32())
	if err != nil {
		return nil, fmt.Errorf("shard: gathering the batch: %w", err)
	}
	shape := append([]int{x.Dim(0)}, out.Shape()[1:]...)
	full := kernels.MustNew(kernels.Float32, shape...)
	at := 0
	for k, p := range parts {
		if len(p) != host.Len() {
			return nil, fmt.Errorf("shard: rank %d sent %d values, want %d", k, len(p), host.Len())
		}
		at += copy(full.F32()[at:], p)
	}
	return full, nil
}

// leading returns rows [lo, hi) of t's first dimension as a host tensor.
func leading(be kernels.Backend, t *kernels.Tensor, lo, hi int) (*kernels.Tensor, error) {
	h, err := kernels.Download(be, t)
	if err != nil {
		return nil, err
	}
	return h.Slice(lo, hi)
}
