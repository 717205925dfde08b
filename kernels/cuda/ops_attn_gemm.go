//go:build cuda

package cuda

import (
	"github.com/sanafarm/sanafarm/kernels"
)

// attnGEMMBudget bounds the score scratch of the GEMM attention path
// (bytes): batch items are processed in chunks whose [Hq, Tq, Tk] float32
// scores fit it; a single item larger than this takes the flash kernel.
const attnGEMMBudget = 512 << 20

// attentionGEMM is the tensor-core path of Attention in bf16 precision
// (docs/performance.md): per batch item and group member, one strided
// batched GEMM S = scale·Q·Kᵀ over the key/value heads, the attn_softmax
// kernel (soft cap, mask, causal and window hiding, float32), and one
// strided batched GEMM O = P·V. The GEMMs take float32 operands and run as
// TF32 under the backend's tensor-core math mode. It reports false, doing
// nothing, when one batch item's scores exceed attnGEMMBudget.
//
// Row-major [R, C] with leading dimension ld is column-major C×R, so for
// query head h = g·group + r of item b (g its key/value head):
// Sᵀ (Tk×Tq, ld Tk) = op(K_g)ᵀ·Q_h with K_g at k + b·Tk·ldk + g·Dh (ld
// ldk) and Q_h at q + b·Tq·ldq + h·Dh (ld ldq); Oᵀ (Dh×Tq, ld ldq) =
// V_g·Pᵀ with P the head's Tq×Tk probabilities (ld Tk).
func (b *Backend) attentionGEMM(dst, q, k, v, mask *kernels.Tensor, p kernels.AttnParams, d kernels.AttnDims, scale float32) (bool, error) {
	// Checked factor by factor: Hq·Tq·Tk of huge shapes would overflow.
	if d.Hq == 0 || d.Tq == 0 || d.Tk == 0 || d.Tk > attnGEMMBudget/4/d.Hq/d.Tq {
		return false, nil
	}
	per := d.Hq * d.Tq * d.Tk * 4
	chunk := max(1, min(d.B, attnGEMMBudget/per))
	err := b.with(func() error {
		ptrs, err := b.attnPtrs(dst, q, k, v, mask)
		if err != nil {
			return err
		}
		blas, err := b.blasHandle()
		if err != nil {
			return err
		}
		s, release, err := b.scratch(chunk * per)
		if err != nil {
			return err
		}
		defer release()
		for b0 := 0; b0 < d.B; b0 += chunk {
			n := min(chunk, d.B-b0)
			if err := b.attnChunk(blas, ptrs, uintptr(s), p, d, scale, b0, n); err != nil {
				return err
			}
		}
		return nil
	})
	return true, err
}

// attnPointers are the device addresses of Attention's operands (mask 0
// when absent).
type attnPointers struct{ dst, q, k, v, mask uintptr }

func (b *Backend) attnPtrs(dst, q, k, v, mask *kernels.Tensor) (attnPointers, error) {
	var out attnPointers
	for _, x := range []struct {
		t *kernels.Tensor
		p *uintptr
	}{{dst, &out.dst}, {q, &out.q}, {k, &out.k}, {v, &out.v}, {mask, &out.mask}} {
		if x.t == nil {
			continue
		}
		p, err := b.ptr(x.t)
		if err != nil {
			return out, err
		}
		*x.p = uintptr(p)
	}
	return out, nil
}

// attnChunk runs batch items b0 … b0+n−1 with their scores in s.
func (b *Backend) attnChunk(blas *cublas, pt attnPointers, s uintptr, p kernels.AttnParams, d kernels.AttnDims, scale float32, b0, n int) error {
	group := d.Hq / d.Hkv
	ldq, ldk := d.Hq*d.Dh, d.Hkv*d.Dh
	tqk := int64(d.Tq) * int64(d.Tk)
	for bl := range n {
		bi := b0 + bl
		qb := pt.q + uintptr(bi*d.Tq*ldq*4)
		kb := pt.k + uintptr(bi*d.Tk*ldk*4)
		sb := s + uintptr(int64(bl*d.Hq)*tqk*4)
		for r := range group {
			if err := blas.gemm(gemmArgs{transA: true, m: d.Tk, n: d.Tq, k: d.Dh,
				a: kb, lda: ldk, strideA: int64(d.Dh),
				b: qb + uintptr(r*d.Dh*4), ldb: ldq, strideB: int64(group * d.Dh),
				c: sb + uintptr(int64(r)*tqk*4), ldc: d.Tk, strideC: int64(group) * tqk,
				at: cudaR32F, bt: cudaR32F, ct: cudaR32F, alpha: scale, batch: d.Hkv}); err != nil {
				return err
			}
		}
	}
	rows := int64(n) * int64(d.Hq) * int64(d.Tq)
	grid := [3]uint32{uint32(min(ceilDiv(int(rows), 8), 132*64)), 1, 1}
	if err := b.launch("attn_softmax", grid, [3]uint32{256, 1, 1}, 0, s, pt.mask, int32(d.Tq), int32(d.Tk),
		int32(d.Hq), rows, int32(b0), boolArg(d.MaskPerQuery), p.SoftCap, boolArg(p.Causal), int32(p.Window)); err != nil {
		return err
	}
	for bl := range n {
		bi := b0 + bl
		vb := pt.v + uintptr(bi*d.Tk*ldk*4)
		ob := pt.dst + uintptr(bi*d.Tq*ldq*4)
		sb := s + uintptr(int64(bl*d.Hq)*tqk*4)
		for r := range group {
			if err := blas.gemm(gemmArgs{m: d.Dh, n: d.Tq, k: d.Tk,
				a: vb, lda: ldk, strideA: int64(d.Dh),
				b: sb + uintptr(int64(r)*tqk*4), ldb: d.Tk, strideB: int64(group) * tqk,
				c: ob + uintptr(r*d.Dh*4), ldc: ldq, strideC: int64(group * d.Dh),
				at: cudaR32F, bt: cudaR32F, ct: cudaR32F, alpha: 1, batch: d.Hkv}); err != nil {
				return err
			}
		}
	}
	return nil
}
