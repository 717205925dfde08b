package nn

import (
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

func TestNarrowBF16(t *testing.T) {
	mk := func(dt kernels.DType) *kernels.Tensor {
		f, _ := kernels.FromF32([]float32{1, 1.00390625, -3.1415927, 65504}, 2, 2)
		if dt == kernels.Float32 {
			return f
		}
		h, _ := f.ToHalf(dt)
		return h
	}
	cases := []struct {
		name  string
		be    kernels.Backend
		in    kernels.DType
		round bool
	}{
		{"f32 backend keeps f32", cpu.New(cpu.Config{}), kernels.Float32, false},
		{"bf16 backend rounds f32", cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}), kernels.Float32, true},
		{"bf16 backend keeps bf16", cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}), kernels.BFloat16, false},
		{"bf16 backend keeps f16", cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}), kernels.Float16, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := mk(c.in)
			a, b := orig, orig // one tensor behind two fields
			var none *kernels.Tensor
			if err := NarrowBF16(c.be, []**kernels.Tensor{&a, &b, &none}); err != nil {
				t.Fatal(err)
			}
			if none != nil {
				t.Error("nil tensor replaced")
			}
			if !c.round {
				if a != orig || b != orig {
					t.Error("tensor replaced")
				}
				return
			}
			if a == orig || a != b || a.DType() != kernels.BFloat16 || orig.DType() != kernels.Float32 {
				t.Fatalf("got %v (shared %v) from %v, want one new BF16 tensor and the F32 one untouched", a, a == b, orig)
			}
			for i, f := range orig.F32() {
				if want := kernels.F32ToBF16(f); a.U16()[i] != want {
					t.Errorf("element %d: %#x, want %#x", i, a.U16()[i], want)
				}
			}
		})
	}
}

func TestDTypesCountsEveryTensor(t *testing.T) {
	h, _ := kernels.MustNew(kernels.Float32, 2).ToHalf(kernels.BFloat16)
	o := &outer{a: kernels.MustNew(kernels.Float32, 2), in: inner{w: h}, list: []inner{{w: h, b: kernels.MustNew(kernels.Float32, 1)}}}
	got := DTypes(o)
	if len(got) != 2 || got[kernels.Float32] != 2 || got[kernels.BFloat16] != 2 {
		t.Errorf("DTypes = %v, want 2 F32 and 2 BF16", got)
	}
}

func TestMaxRelDiff(t *testing.T) {
	a, _ := kernels.FromF32([]float32{1, -4, 2}, 3)
	b, _ := kernels.FromF32([]float32{1, -3.9, 2}, 3)
	if d := MaxRelDiff(b, a); d < 0.0249 || d > 0.0251 {
		t.Errorf("MaxRelDiff = %v, want 0.1/4", d)
	}
	if d := MaxRelDiff(a, a); d != 0 {
		t.Errorf("MaxRelDiff of equal tensors = %v", d)
	}
	if d := MaxRelDiff(a, kernels.MustNew(kernels.Float32, 2)); d < 1e300 {
		t.Errorf("MaxRelDiff of different lengths = %v", d)
	}
}
