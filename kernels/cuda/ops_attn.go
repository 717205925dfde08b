//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Attention-family ops (src/attention.cu, src/linattn.cu, src/rope.cu).

// attnMaxDh is the largest head dim of the attention kernel (8 output
// registers per lane).
const attnMaxDh = 256

// attnShmem is the attention kernel's dynamic shared memory for nw warps,
// key tiles of kt and head dim dh: q rows, padded K tile, V tile.
func attnShmem(nw, kt, dh int) int { return 4 * (nw*dh + kt*(dh+1) + kt*dh) }

// Attention is scaled-dot-product attention (see kernels.AttnParams).
func (b *Backend) Attention(dst, q, k, v, mask *kernels.Tensor, p kernels.AttnParams) error {
	d, err := kernels.CheckAttention(dst, q, k, v, mask, p)
	if err != nil {
		return err
	}
	const op = "attention"
	if err := b.device(op, dst, q, k, v, mask); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, q, k, v, mask); err != nil {
		return err
	}
	if d.Dh > attnMaxDh {
		return notImplemented(op, "head dim %d exceeds %d", d.Dh, attnMaxDh)
	}
	if d.Hq > 65535 || d.B > 65535 {
		return notImplemented(op, "%d heads and batch %d exceed the grid limit 65535", d.Hq, d.B)
	}
	if err := fit32(op, d.Tq, d.Tk); err != nil {
		return err
	}
	if dst.Len() == 0 {
		return nil
	}
	scale := p.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(max(d.Dh, 1))))
	}
	if b.cfg.FastMath { // tensor cores: scores through GEMMs (ops_attn_gemm.go)
		ok, err := b.attentionGEMM(dst, q, k, v, mask, p, d, scale)
		if err != nil {
			return fmt.Errorf("cuda: %s: %w", op, err)
		}
		if ok {
			return nil
		}
	}
	nw := 4 // warps (queries) per block: more share each K/V tile when Tq is long
	if d.Tq >= 64 {
		nw = 8
	}
	kt := 32 // keys per tile, halved until the tiles fit the default 48 KiB
	for kt > 1 && attnShmem(nw, kt, d.Dh) > 48<<10 {
		kt /= 2
	}
	grid := [3]uint32{uint32(ceilDiv(d.Tq, nw)), uint32(d.Hq), uint32(d.B)}
	return b.run(op, "attention", grid, [3]uint32{uint32(32 * nw), 1, 1}, uint32(attnShmem(nw, kt, d.Dh)),
		dst, q, k, v, mask, int32(d.Tq), int32(d.Tk), int32(d.Hq), int32(d.Hkv), int32(d.Dh),
		scale, p.SoftCap, boolArg(p.Causal), int32(p.Window), boolArg(d.MaskPerQuery), int32(kt))
}

// Linear attention kernel constants (match src/linattn.cu).
const (
	laTN      = 32  // tokens per shared-memory tile of linattn_kv
	laMaxO    = 16  // KV outputs per thread of linattn_kv
	laThreads = 384 // linattn_kv block limit (~150 registers per thread)
)

// LinearAttention is Sana's ReLU linear attention: partial KV sums per
// (batch, head, token slice) into float64 scratch, their sum, then the
// per-token output.
func (b *Backend) LinearAttention(dst, q, k, v *kernels.Tensor, p kernels.LinAttnParams) error {
	nb, n, h, dh, err := kernels.CheckLinearAttention(dst, q, k, v, p)
	if err != nil {
		return err
	}
	const op = "linear attention"
	if err := b.device(op, dst, q, k, v); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, q, k, v); err != nil {
		return err
	}
	if dst.Len() == 0 {
		return nil
	}
	nout := (dh + 1) * dh
	threads := ceilDiv(ceilDiv(nout, laMaxO), 32) * 32
	if threads > laThreads {
		return notImplemented(op, "head dim %d too large for the KV kernel", dh)
	}
	if nb*h > 65535 {
		return notImplemented(op, "batch·heads %d exceeds the grid limit 65535", nb*h)
	}
	if err := fit32(op, n, h, dh); err != nil {
		return err
	}
	// Token slices per (batch, head): enough blocks for ~4 per SM of an
	// H100/H200, each slice a whole number of tiles.
	slices := max(1, min(ceilDiv(4*132, nb*h), ceilDiv(n, 4*laTN)))
	per := ceilDiv(ceilDiv(n, slices), laTN) * laTN
	slices = ceilDiv(n, per)
	total := nb * h * nout
	part, releasePart, err := b.scratch(slices * total * 8)
	if err != nil {
		return err
	}
	defer releasePart()
	kv, release, err := b.scratch(total * 4)
	if err != nil {
		return err
	}
	defer release()
	if err := b.run(op, "linattn_kv", [3]uint32{uint32(nb * h), uint32(slices), 1}, [3]uint32{uint32(threads), 1, 1},
		uint32(4*(laTN*dh+laTN*(dh+1))), part, k, v, dtypeCode(q), int32(n), int32(h), int32(dh), int32(per)); err != nil {
		return err
	}
	if err := b.runN(op, "linattn_kv_reduce", total, kv, part, int64(total), int32(slices)); err != nil {
		return err
	}
	tq := 64 // tokens per block of linattn_out
	shmem := func(tq int) int { return 4 * ((dh+1)*(dh+1) + tq*dh + tq) }
	for tq > 1 && shmem(tq) > 48<<10 {
		tq /= 2
	}
	grid := [3]uint32{uint32(ceilDiv(n, tq)), uint32(nb * h), 1}
	return b.run(op, "linattn_out", grid, [3]uint32{256, 1, 1}, uint32(shmem(tq)),
		dst, dtypeCode(dst), q, dtypeCode(q), kv, int32(n), int32(h), int32(dh), p.Eps, int32(tq))
}

// RoPE rotates x [B, T, H·Dh] by positions pos; dst may be x.
func (b *Backend) RoPE(dst, x, pos *kernels.Tensor, p kernels.RoPEParams) error {
	nb, t, h, dh, batched, err := kernels.CheckRoPE(dst, x, pos, p)
	if err != nil {
		return err
	}
	const op = "rope"
	if err := b.device(op, dst, x, pos); err != nil {
		return err
	}
	if err := b.sameOrDisjoint(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, pos); err != nil {
		return err
	}
	if err := fit32(op, nb, t, h, dh); err != nil {
		return err
	}
	return b.runN(op, "rope", nb*t*h*(dh/2), dst, x, pos, dtypeCode(pos), boolArg(batched),
		int32(nb), int32(t), int32(h), int32(dh), p.Theta)
}
