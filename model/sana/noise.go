package sana

import "math/rand/v2"

// DefaultNoise gives every sample a PCG stream keyed by (seed, i) with
// Go's ziggurat normal sampler: deterministic across runs, machines and
// batch sizes, but not PyTorch's stream (a torch-compatible NoiseSource
// reproduces diffusers' pixels for a given seed).
type DefaultNoise struct{}

// Sample returns sample i's stream.
func (DefaultNoise) Sample(seed uint64, i int) Normal {
	return pcgNormal{rand.New(rand.NewPCG(seed, 0x5a4a_0000_0000+uint64(i)))}
}

type pcgNormal struct{ r *rand.Rand }

func (p pcgNormal) Randn(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(p.r.NormFloat64())
	}
	return out
}
