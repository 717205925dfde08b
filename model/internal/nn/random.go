// Package nn holds the small pieces every model package (dit, dcae,
// gemma2) shares: deterministic random weights for tests, benchmarks and
// the offline sana-tiny preset, in-memory safetensors sources, and the
// error-accumulating op runner the forward code is written with.
package nn

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Init selects how a random tensor is drawn (the golden cases' scheme).
type Init byte

// Initialisations.
const (
	// Matrix draws N(0, 1/√fan_in), fan_in = elements / shape[0].
	Matrix Init = 'w'
	// Bias draws N(0, 0.2) (also used for modulation tables).
	Bias Init = 'b'
	// Norm draws 1 + N(0, 0.2) (multiplicative norm weights).
	Norm Init = 'n'
	// Std draws N(0, Spec.Std).
	Std Init = 's'
)

// Spec names one tensor of a model and how to initialise it.
type Spec struct {
	Name  string
	Shape []int
	Init  Init
	Std   float64 // for Init == Std
}

// Random draws every spec'd tensor as Float32 from one PCG stream seeded
// by (seed, stream), in spec order, so the result is a pure function of
// its arguments.
func Random(specs []Spec, seed, stream uint64) map[string]*kernels.Tensor {
	rng := rand.New(rand.NewPCG(seed, stream))
	out := make(map[string]*kernels.Tensor, len(specs))
	for _, s := range specs {
		t := kernels.MustNew(kernels.Float32, s.Shape...)
		d := t.F32()
		fanIn := 1
		if len(s.Shape) > 0 && s.Shape[0] > 0 {
			fanIn = max(t.Len()/s.Shape[0], 1)
		}
		for i := range d {
			n := rng.NormFloat64()
			switch s.Init {
			case Matrix:
				d[i] = float32(n / math.Sqrt(float64(fanIn)))
			case Norm:
				d[i] = float32(1 + 0.2*n)
			case Std:
				d[i] = float32(s.Std * n)
			default:
				d[i] = float32(0.2 * n)
			}
		}
		out[s.Name] = t
	}
	return out
}

// MemFile encodes tensors as an in-memory safetensors file, so random
// weights go through exactly the loading path real checkpoints take.
func MemFile(ts map[string]*kernels.Tensor, name string) (*weights.File, error) {
	var buf bytes.Buffer
	if err := weights.Write(&buf, ts, nil); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", name, err)
	}
	return weights.OpenBytes(name, buf.Bytes())
}

// S is shorthand for a Spec with a fixed initialisation.
func S(name string, shape []int, init Init) Spec { return Spec{Name: name, Shape: shape, Init: init} }
