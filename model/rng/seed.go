package rng

// SampleSeed returns the generator seed of sample i of a job seeded with
// jobSeed: SplitMix64 (Steele, Lea & Flood 2014) applied to
// jobSeed + (i+1)·0x9e3779b97f4a7c15. It is a pure function, so a
// sample's noise depends only on (jobSeed, i), never on how samples are
// batched. NewTorch (like PyTorch's manual_seed) uses the low 32 bits of
// the result; to reproduce sample i in PyTorch, call
// torch.Generator().manual_seed(SampleSeed(jobSeed, i)).
func SampleSeed(jobSeed uint64, i int) uint64 {
	z := jobSeed + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
