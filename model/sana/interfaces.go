package sana

import (
	"context"
	"io/fs"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
)

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

// Transformer is the denoiser the sampling loops call: *dit.Model, or a
// parallel model (package shard) that every rank of a group drives with
// the same calls (see Options.Transformer).
type Transformer interface {
	Config() dit.Config
	Backend() kernels.Backend
	PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*dit.Cond, error)
	Forward(ctx context.Context, x *kernels.Tensor, t, guidance []float32, cd *dit.Cond) (*kernels.Tensor, error)
}

var _ Transformer = (*dit.Model)(nil)
