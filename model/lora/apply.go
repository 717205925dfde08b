package lora

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Weighted is one active adapter and its set_adapters weight.
type Weighted struct {
	Adapter *Adapter
	Weight  float64
}

// Set is the active adapters, in set_adapters order (the order their
// terms are added), and the global lora scale (diffusers'
// attention_kwargs["scale"]). Scale multiplies every term, so 0 disables
// the adapters: build sets with NewSet, which starts at 1.
type Set struct {
	Adapters []Weighted
	Scale    float64
}

// NewSet returns the set of adapters with lora scale 1.
func NewSet(adapters ...Weighted) Set { return Set{Adapters: adapters, Scale: 1} }

// Term is one adapter's update of a module with its final scaling.
type Term struct {
	Source  string // the adapter file, for errors
	Layer   *Layer
	Scaling float64
}

// Terms returns every targeted module's terms in adapter order. The
// scaling is peft's, in float64: (weight·alpha)/r (√r with rsLoRA) times
// the lora scale.
func (s Set) Terms() (map[string][]Term, error) {
	if math.IsNaN(s.Scale) || math.IsInf(s.Scale, 0) {
		return nil, fmt.Errorf("lora: scale %g is not finite", s.Scale)
	}
	out := map[string][]Term{}
	for i, w := range s.Adapters {
		if w.Adapter == nil {
			return nil, fmt.Errorf("lora: adapter %d is nil", i)
		}
		if math.IsNaN(w.Weight) || math.IsInf(w.Weight, 0) {
			return nil, fmt.Errorf("lora %s: weight %g is not finite", w.Adapter.Source, w.Weight)
		}
		for _, mod := range w.Adapter.Modules() {
			l := w.Adapter.Layers[mod]
			den := float64(l.Rank)
			if l.RSLoRA {
				den = math.Sqrt(den)
			}
			sc := w.Weight * l.Alpha / den * s.Scale
			if math.IsNaN(sc) || math.IsInf(sc, 0) {
				// A finite but huge lora_alpha from the file's metadata
				// would otherwise fuse infinities into the weights.
				return nil, fmt.Errorf("lora %s: module %s: scaling weight %g · alpha %g / %g · scale %g is not finite",
					w.Adapter.Source, mod, w.Weight, l.Alpha, den, s.Scale)
			}
			out[mod] = append(out[mod], Term{Source: w.Adapter.Source, Layer: l, Scaling: sc})
		}
	}
	return out, nil
}

// Attach adds the set's terms unfused to w (applied per forward by
// package dit). A module the transformer does not have, or whose shape
// does not match, is an error naming the adapter file and key.
func Attach(w *dit.Weights, s Set) error {
	terms, err := s.Terms()
	if err != nil {
		return err
	}
	for _, mod := range keys(terms) {
		for _, t := range terms[mod] {
			if err := w.AddLoRA(mod, dit.LoRA{A: t.Layer.A, B: t.Layer.B, Scale: float32(t.Scaling)}); err != nil {
				return fmt.Errorf("lora %s: key %s: %w", t.Source, mod+".lora_A.weight", err)
			}
		}
	}
	return nil
}

// Fuse returns src with every targeted weight W replaced by
// W + Σ scaling·B·A (computed in float64, stored in W's dtype): the fast
// path for a farm job, where the LoRA set is fixed for the model's life.
// Every target is checked up front.
func Fuse(src weights.Source, s Set) (weights.Source, error) {
	terms, err := s.Terms()
	if err != nil {
		return nil, err
	}
	byWeight := map[string][]Term{}
	for mod, ts := range terms {
		key := mod + ".weight"
		in, ok := src.Info(key)
		for _, t := range ts {
			if err := checkTarget(t, key, in, ok); err != nil {
				return nil, err
			}
		}
		byWeight[key] = ts
	}
	return &fused{Source: src, terms: byWeight}, nil
}

func checkTarget(t Term, key string, in weights.Info, ok bool) error {
	l := t.Layer
	if !ok {
		return fmt.Errorf("lora %s: key %s.lora_A.weight targets module %s, which the model does not have (no %s)", t.Source, l.Module, l.Module, key)
	}
	sh := in.Shape
	conv := len(sh) == 4 && sh[2] == 1 && sh[3] == 1
	if len(sh) != 2 && !conv {
		return fmt.Errorf("lora %s: module %s: weight %s has shape %v; only Linear and 1×1-conv modules can take a LoRA", t.Source, l.Module, key, sh)
	}
	if sh[0] != l.B.Dim(0) || sh[1] != l.A.Dim(1) {
		return fmt.Errorf("lora %s: module %s: lora_A [r, in] %v and lora_B [out, r] %v do not fit weight %s %v",
			t.Source, l.Module, l.A.Shape(), l.B.Shape(), key, sh)
	}
	if !in.DType.IsFloat() {
		return fmt.Errorf("lora %s: module %s: weight %s has dtype %s", t.Source, l.Module, key, in.Raw)
	}
	return nil
}

// fused is a weights.Source whose targeted weights come back merged.
type fused struct {
	weights.Source
	terms map[string][]Term
}

func (f *fused) Tensor(name string) (*kernels.Tensor, error) {
	t, err := f.Source.Tensor(name)
	ts, ok := f.terms[name]
	if err != nil || !ok {
		return t, err
	}
	return merge(t, ts)
}

// merge returns W + Σ s·B·A in W's dtype; rows are spread over the CPUs.
func merge(w *kernels.Tensor, ts []Term) (*kernels.Tensor, error) {
	out := w.Clone()
	rows := w.Dim(0)
	cols := w.Len() / rows
	var wg sync.WaitGroup
	workers := max(1, min(runtime.GOMAXPROCS(0), rows))
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acc := make([]float64, cols)
			for o := k; o < rows; o += workers {
				for i := range acc {
					acc[i] = w.At(o*cols + i)
				}
				for _, t := range ts {
					addRow(acc, t, o)
				}
				store(out, o*cols, acc)
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// addRow adds row o of s·B·A to acc.
func addRow(acc []float64, t Term, o int) {
	a, b := t.Layer.A.F32(), t.Layer.B.F32()
	r, cols := t.Layer.Rank, len(acc)
	for k := range r {
		c := t.Scaling * float64(b[o*r+k])
		row := a[k*cols : (k+1)*cols]
		for i, v := range row {
			acc[i] += c * float64(v)
		}
	}
}

func store(t *kernels.Tensor, off int, v []float64) {
	switch t.DType() {
	case kernels.Float32:
		for i, x := range v {
			t.F32()[off+i] = float32(x)
		}
	case kernels.BFloat16:
		for i, x := range v {
			t.U16()[off+i] = kernels.F32ToBF16(float32(x))
		}
	default: // Float16: checkTarget admits float dtypes only
		for i, x := range v {
			t.U16()[off+i] = kernels.F32ToF16(float32(x))
		}
	}
}
