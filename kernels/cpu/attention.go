package cpu

import (
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// attnBlockQ is the number of queries processed together: their score
// block (attnBlockQ × Tk) is one GEMM for QKᵀ and one for P·V.
const attnBlockQ = 64

// attnJob holds the operands of one Attention call.
type attnJob struct {
	d           kernels.AttnDims
	p           kernels.AttnParams
	scale       float32
	q, k, v     []float32
	mask, out   []float32
	g           *Backend // single-threaded GEMMs inside workers
	ldq, ldk    int
	qBlocks     int
	maskPerRowQ bool
}

// Attention is scaled-dot-product attention, parallel over (batch, head,
// query block). Scores are computed in float32 by GEMM, then scaled,
// soft-capped, masked (additive mask, causal, window) and normalized with
// a float32 exp and a float64 sum. A query that sees no key at all (every score −Inf) gets an
// all-zero output row rather than NaN.
func (b *Backend) Attention(dst, q, k, v, mask *kernels.Tensor, p kernels.AttnParams) error {
	d, err := kernels.CheckAttention(dst, q, k, v, mask, p)
	if err != nil {
		return err
	}
	if err := host("attention", dst, q, k, v, mask); err != nil {
		return err
	}
	j := &attnJob{d: d, p: p, scale: p.Scale, q: q.F32(), k: k.F32(), v: v.F32(), out: dst.F32(),
		g: b.serial(), ldq: d.Hq * d.Dh, ldk: d.Hkv * d.Dh, maskPerRowQ: d.MaskPerQuery}
	if j.scale == 0 {
		j.scale = float32(1 / math.Sqrt(float64(max(d.Dh, 1))))
	}
	if mask != nil {
		j.mask = mask.F32()
	}
	j.qBlocks = (d.Tq + attnBlockQ - 1) / attnBlockQ
	b.parallelFor(d.B*d.Hq*j.qBlocks, 1, func(lo, hi int) {
		scores := make([]float32, attnBlockQ*d.Tk)
		for t := lo; t < hi; t++ {
			j.block(t, scores)
		}
	})
	return nil
}

// keyRange returns the keys [jlo, jhi) any query in [i0, i1) may see
// under the causal and window constraints.
func (j *attnJob) keyRange(i0, i1 int) (jlo, jhi int) {
	jhi = j.d.Tk
	if j.p.Causal {
		jhi = min(jhi, i1)
	}
	if j.p.Window > 0 {
		jlo = max(0, i0-j.p.Window+1)
	}
	return jlo, jhi
}

// block computes the output rows of one (batch, head, query block) task.
func (j *attnJob) block(t int, scores []float32) {
	d := j.d
	qb, h, bi := t%j.qBlocks, (t/j.qBlocks)%d.Hq, t/(j.qBlocks*d.Hq)
	hk := h / (d.Hq / d.Hkv)
	i0 := qb * attnBlockQ
	i1 := min(i0+attnBlockQ, d.Tq)
	rows := i1 - i0
	out := j.out[(bi*d.Tq+i0)*j.ldq+h*d.Dh:]
	jlo, jhi := j.keyRange(i0, i1)
	if jhi <= jlo || d.Dh == 0 {
		for r := range rows {
			clear(out[r*j.ldq : r*j.ldq+d.Dh])
		}
		return
	}
	nk := jhi - jlo
	s := scores[:rows*nk]
	kvOff := (bi*d.Tk+jlo)*j.ldk + hk*d.Dh
	qs := j.q[(bi*d.Tq+i0)*j.ldq+h*d.Dh:]
	j.g.gemm(rows, nk, d.Dh, qs, j.ldq, matB{f32: j.k[kvOff:], dt: kernels.Float32, ld: j.ldk, trans: true}, s, nk, false)
	for r := range rows {
		j.finishRow(s[r*nk:(r+1)*nk], bi, i0+r, jlo)
	}
	j.g.gemm(rows, d.Dh, nk, s, nk, matB{f32: j.v[kvOff:], dt: kernels.Float32, ld: j.ldk}, out, j.ldq, false)
}

// finishRow turns raw q·k scores of query i (keys jlo...) into
// probabilities: scale, soft-cap, additive mask, causal/window masking,
// softmax.
func (j *attnJob) finishRow(row []float32, bi, i, jlo int) {
	for c := range row {
		row[c] *= j.scale
	}
	var mr []float32
	if j.mask != nil {
		off := bi*j.d.Tk + jlo
		if j.maskPerRowQ {
			off = (bi*j.d.Tq+i)*j.d.Tk + jlo
		}
		mr = j.mask[off : off+len(row)]
	}
	capMaskRow(row, j.p.SoftCap, mr)
	ninf := float32(math.Inf(-1))
	for c := range row {
		key := jlo + c
		if (j.p.Causal && key > i) || (j.p.Window > 0 && i-key >= j.p.Window) {
			row[c] = ninf
		}
	}
	softmaxRow(row, j.g.simd)
}
