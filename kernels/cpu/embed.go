package cpu

import (
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Embedding gathers rows of table for ids, times scale. All ids are
// validated before anything is written.
func (b *Backend) Embedding(dst, table, ids *kernels.Tensor, scale float32) error {
	n, vocab, d, err := kernels.CheckEmbedding(dst, table, ids)
	if err != nil {
		return err
	}
	if err := host("embedding", dst, table, ids); err != nil {
		return err
	}
	for i := range n {
		if id := posAt(ids, i); id < 0 || id >= int64(vocab) {
			return errorf("embedding: ids %v element %d = %d outside [0, %d) of table %v", ids, i, id, vocab, table)
		}
	}
	o := dst.F32()
	b.parallelFor(n, max(1, ewGrain/max(d, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			id := int(posAt(ids, i))
			row := o[i*d : (i+1)*d]
			if table.DType() == kernels.Float32 {
				copy(row, table.F32()[id*d:(id+1)*d])
			} else {
				halfSliceToF32(row, table.DType(), table.U16()[id*d:(id+1)*d])
			}
			if scale != 1 {
				for j := range row {
					row[j] *= scale
				}
			}
		}
	})
	return nil
}

// TimestepEmbedding writes diffusers' get_timestep_embedding of t into
// dst [B, Dim]; an odd Dim gets a zero last column, as diffusers pads.
// Frequencies follow the float32 reference (exponent computed in float32,
// then exp), and arguments t·f_k are formed in float32 as in PyTorch.
func (b *Backend) TimestepEmbedding(dst, t *kernels.Tensor, p kernels.TimestepParams) error {
	nb, err := kernels.CheckTimestepEmbedding(dst, t, p)
	if err != nil {
		return err
	}
	if err := host("timestep embedding", dst, t); err != nil {
		return err
	}
	maxPeriod, scale := p.MaxPeriod, p.Scale
	if maxPeriod == 0 {
		maxPeriod = 10000
	}
	if scale == 0 {
		scale = 1
	}
	half := p.Dim / 2
	freq := make([]float32, half)
	lnP := float32(math.Log(float64(maxPeriod)))
	for k := range half {
		e := -lnP * float32(k) / (float32(half) - p.DownscaleFreqShift)
		freq[k] = float32(math.Exp(float64(e)))
	}
	o := dst.F32()
	for i := range nb {
		row := o[i*p.Dim : (i+1)*p.Dim]
		ti := float32(t.At(i))
		sinPart, cosPart := row[:half], row[half:2*half]
		if p.FlipSinToCos {
			sinPart, cosPart = row[half:2*half], row[:half]
		}
		for k, f := range freq {
			arg := float64(scale * (ti * f))
			sinPart[k] = float32(math.Sin(arg))
			cosPart[k] = float32(math.Cos(arg))
		}
		if p.Dim%2 == 1 {
			row[p.Dim-1] = 0
		}
	}
	return nil
}
