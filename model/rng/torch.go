// Package rng draws noise that matches PyTorch's CPU generator bit for bit:
// torch.Generator().manual_seed(seed) followed by torch.randn(n,
// generator=g) (PyTorch 1.13 semantics on an x86-64 CPU with AVX2, the
// common case), and derives per-sample seeds from a job seed.
package rng

import "math"

// fillBlock is the block size of PyTorch's vectorised normal fill, used
// for tensors with at least that many elements.
const fillBlock = 16

// Torch is a PyTorch-compatible CPU generator (at::CPUGeneratorImpl). It
// is not safe for concurrent use.
type Torch struct {
	mt *mt19937
	// cachedNormal is the second Box–Muller value kept by
	// at::normal_distribution<double> for the next call of the scalar
	// (small-tensor) path; PyTorch keeps it in the generator too.
	cachedNormal    float64
	hasCachedNormal bool
}

// NewTorch returns a generator in the state of
// torch.Generator().manual_seed(seed). Like PyTorch's mt19937, it uses
// only the low 32 bits of the seed.
func NewTorch(seed uint64) *Torch {
	return &Torch{mt: newMT19937(uint32(seed))}
}

// uniform24 is at::uniform_real_distribution<float>(0, 1): 24 random bits
// of one 32-bit draw, scaled by 2^-24.
func (g *Torch) uniform24() float32 {
	return float32(g.mt.uint32()&(1<<24-1)) * (1.0 / (1 << 24))
}

// uniform53 is at::uniform_real_distribution<double>(0, 1): 53 random
// bits of a 64-bit draw, scaled by 2^-53.
func (g *Torch) uniform53() float64 {
	return float64(g.mt.uint64()&(1<<53-1)) * (1.0 / (1 << 53))
}

// normal is at::normal_distribution<double>(0, 1) as PyTorch 1.13 draws
// it: Box–Muller on two 53-bit uniforms, returning r·cos θ and keeping
// r·sin θ for the next call.
func (g *Torch) normal() float64 {
	if g.hasCachedNormal {
		g.hasCachedNormal = false
		return g.cachedNormal
	}
	u1 := g.uniform53()
	u2 := g.uniform53()
	r := math.Sqrt(-2 * logCR(1-u2))
	sin, cos := sinCosCR(2 * math.Pi * u1)
	g.cachedNormal, g.hasCachedNormal = r*sin, true
	return r * cos
}

// Randn returns n float32 standard normal values: what
// torch.randn(n, generator=g, dtype=torch.float32) returns (any shape
// with n elements, in row-major order), advancing the generator the same
// way.
func (g *Torch) Randn(n int) []float32 {
	out := make([]float32, n)
	if n < fillBlock {
		for i := range out {
			out[i] = float32(g.normal())
		}
		return out
	}
	for i := range out {
		out[i] = g.uniform24()
	}
	for i := 0; i+fillBlock <= n; i += fillBlock {
		boxMuller32(out[i : i+fillBlock])
	}
	if n%fillBlock != 0 {
		// PyTorch redraws the last 16 values and transforms them again.
		tail := out[n-fillBlock:]
		for i := range tail {
			tail[i] = g.uniform24()
		}
		boxMuller32(tail)
	}
	return out
}

// RandnF64 is Randn for torch.float64.
func (g *Torch) RandnF64(n int) []float64 {
	out := make([]float64, n)
	if n < fillBlock {
		for i := range out {
			out[i] = g.normal()
		}
		return out
	}
	for i := range out {
		out[i] = g.uniform53()
	}
	for i := 0; i+fillBlock <= n; i += fillBlock {
		boxMuller64(out[i : i+fillBlock])
	}
	if n%fillBlock != 0 {
		tail := out[n-fillBlock:]
		for i := range tail {
			tail[i] = g.uniform53()
		}
		boxMuller64(tail)
	}
	return out
}

// boxMuller32 transforms 16 uniforms in place as normal_fill_16_AVX2
// does: lanes j and j+8 become r·cos θ and r·sin θ with u1 = 1 - d[j],
// θ = 2π·d[j+8].
func boxMuller32(d []float32) {
	const twoPi = float32(2 * math.Pi)
	for j := range fillBlock / 2 {
		u1 := 1 - d[j]
		theta := mul32(twoPi, d[j+8])
		r := float32(math.Sqrt(float64(mul32(-2, log256(u1)))))
		sin, cos := sincos256(theta)
		d[j] = mul32(r, cos)
		d[j+8] = mul32(r, sin)
	}
}

// boxMuller64 is the scalar normal_fill_16 for double.
func boxMuller64(d []float64) {
	for j := range fillBlock / 2 {
		u1 := 1 - d[j]
		theta := 2 * math.Pi * d[j+8]
		r := math.Sqrt(-2 * logCR(u1))
		sin, cos := sinCosCR(theta)
		d[j] = r * cos
		d[j+8] = r * sin
	}
}
