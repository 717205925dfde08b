package sana

import "github.com/sanafarm/sanafarm/model/rng"

// DefaultNoise gives sample i of a request PyTorch's CPU generator seeded
// with rng.SampleSeed(seed, i): the latents are what
// torch.randn(1, C, h, w, generator=torch.Generator().manual_seed(
// SampleSeed(seed, i))) returns, so diffusers given one such generator per
// sample starts from the same noise.
type DefaultNoise struct{}

// Sample returns sample i's stream.
func (DefaultNoise) Sample(seed uint64, i int) Normal {
	return rng.NewTorch(rng.SampleSeed(seed, i))
}
