package sana

import "io/fs"

// Tokenizer is what the pipeline needs of the Gemma tokenizer: the ids of
// a text with <bos> prepended, no <eos>, no padding and no truncation.
type Tokenizer interface {
	Encode(text string) ([]int, error)
}

// TokenizerLoader opens the tokenizer of a pipeline folder (dir is
// "tokenizer").
type TokenizerLoader func(fsys fs.FS, dir string) (Tokenizer, error)

// Normal is a stream of standard normal float32 samples. Successive calls
// continue the stream (the Sprint sampler draws fresh noise every step
// from the same generator as the initial latents).
type Normal interface {
	Randn(n int) []float32
}

// NoiseSource gives sample i of a request with seed its own stream, so an
// image depends only on (seed, i), never on the batch it was computed in.
type NoiseSource interface {
	Sample(seed uint64, i int) Normal
}
