package sana

import (
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

func TestSprintStart(t *testing.T) {
	for _, c := range []struct {
		n        int
		strength float64
		want     int
		err      bool
	}{
		{2, 0.5, 1, false}, {2, 0.9, 0, false}, {2, 1, 0, false}, {4, 0.6, 1, false},
		{3, 0.3, 2, false}, {10, 0.05, 9, false}, {1, 0.4, 0, false},
		{2, 0, 0, true}, {2, 1.5, 0, true}, {2, math.NaN(), 0, true},
	} {
		got, err := SprintStart(c.n, c.strength)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("SprintStart(%d, %g) = %d, %v; want %d (error %v)", c.n, c.strength, got, err, c.want, c.err)
		}
	}
}

func TestPreprocessImageAndNoise(t *testing.T) {
	x, err := PreprocessImage([]uint8{0, 255, 128, 1, 2, 3}, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	// CHW: channel 0 holds pixels (0, 1) = 0 and 1.
	want := []float32{-1, float32(2*float32(float32(1)/255)) - 1, 1, float32(2*float32(float32(2)/255)) - 1}
	for i, w := range want {
		if x.F32()[i] != w {
			t.Errorf("x[%d] = %v, want %v", i, x.F32()[i], w)
		}
	}
	if _, err := PreprocessImage(make([]uint8, 5), 1, 2); err == nil {
		t.Error("short image accepted")
	}
	z, _ := kernels.FromF32([]float32{1, 2}, 1, 2)
	got, err := NoisedLatents(z, 0, 0.5, []float32{3, 4})
	if err != nil || got.F32()[0] != 1 || got.F32()[1] != 2 {
		t.Errorf("s0 = 0 must keep the image latents: %v %v", got, err)
	}
	if _, err := NoisedLatents(z, 0, 0.5, []float32{3}); err == nil {
		t.Error("short noise accepted")
	}
}
