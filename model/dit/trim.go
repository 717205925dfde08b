package dit

import (
	"github.com/sanafarm/sanafarm/kernels"
)

// captionKeep is how many leading caption tokens the cross-attention needs
// for the additive mask bias [B, T] (0 keep, −10000 pad): one past the
// last kept token of any row. The trailing tokens that every row pads get
// softmax weight exp(−10000 + …) = 0 exactly in float32, so dropping them
// changes no output while it saves their share of the cross-attention's
// K/V projections, scores and weighted sums — Sana pads every prompt to
// 300 tokens, and most prompts use a fraction (docs/performance.md). A row
// with no kept token at all attends uniformly over all T keys, so then
// nothing is dropped.
func captionKeep(bias *kernels.Tensor, B, T int) int {
	keep := 0
	b := bias.F32()
	for i := range B {
		last := -1
		for j := T - 1; j >= 0; j-- {
			if b[i*T+j] == 0 {
				last = j
				break
			}
		}
		if last < 0 {
			return T
		}
		keep = max(keep, last+1)
	}
	return keep
}

// trimCaption keeps the first L tokens of enc [B, T, C] (in the backend's
// memory) and of the host bias [B, T].
func (m *Model) trimCaption(enc, bias *kernels.Tensor, L int) (*kernels.Tensor, *kernels.Tensor, error) {
	B, T, C := enc.Dim(0), enc.Dim(1), enc.Dim(2)
	head, err := m.be.Alloc(enc.DType(), B, L, C)
	if err != nil {
		return nil, nil, err
	}
	tail, err := m.be.Alloc(enc.DType(), B, T-L, C)
	if err != nil {
		return nil, nil, err
	}
	if err := m.be.Split([]*kernels.Tensor{head, tail}, 1, enc); err != nil {
		return nil, nil, err
	}
	kept := kernels.MustNew(kernels.Float32, B, L)
	for i := range B {
		copy(kept.F32()[i*L:(i+1)*L], bias.F32()[i*T:i*T+L])
	}
	return head, kept, nil
}
