package dit

import (
	"math/rand/v2"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

func randTensor(seed uint64, shape ...int) *kernels.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := kernels.MustNew(kernels.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(rng.NormFloat64())
	}
	return t
}

func TestCaptionKeep(t *testing.T) {
	for _, c := range []struct {
		name  string
		valid [][]int // kept positions per row
		T     int
		want  int
	}{
		{"right padded rows", [][]int{{0, 1, 2, 3, 4, 5, 6}, {0, 1, 2, 3}}, 10, 7},
		{"no padding", [][]int{{0, 1, 2}, {0, 1, 2}}, 3, 3},
		{"hole in the middle", [][]int{{0, 5}, {1}}, 8, 6},
		{"a row with nothing kept", [][]int{{0, 1}, {}}, 6, 6},
		{"last token kept", [][]int{{9}, {0}}, 10, 10},
	} {
		bias := kernels.MustNew(kernels.Float32, len(c.valid), c.T)
		for i := range bias.F32() {
			bias.F32()[i] = -10000
		}
		for i, row := range c.valid {
			for _, j := range row {
				bias.F32()[i*c.T+j] = 0
			}
		}
		if got := captionKeep(bias, len(c.valid), c.T); got != c.want {
			t.Errorf("%s: keep %d, want %d", c.name, got, c.want)
		}
	}
}

// TestTrimmedCaptionSameOutput: a caption with trailing padding gives the
// same sample as the same caption without it (the padding is dropped
// before the cross-attention, and never had weight).
func TestTrimmedCaptionSameOutput(t *testing.T) {
	cfg := tinyConfig(true, false)
	w, err := RandomWeights(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, w, cpu.New(cpu.Config{Threads: 1}))
	B, T, L := 2, 12, 5
	enc := randTensor(7, B, T, cfg.CaptionChannels)
	mask := kernels.MustNew(kernels.Float32, B, T)
	short, shortMask := kernels.MustNew(kernels.Float32, B, L, cfg.CaptionChannels), kernels.MustNew(kernels.Float32, B, L)
	for i := range B {
		for j := range T {
			if j < L-i { // valid lengths 5 and 4
				mask.F32()[i*T+j] = 1
			}
			if j < L {
				shortMask.F32()[i*L+j] = mask.F32()[i*T+j]
				copy(short.F32()[(i*L+j)*cfg.CaptionChannels:(i*L+j+1)*cfg.CaptionChannels],
					enc.F32()[(i*T+j)*cfg.CaptionChannels:(i*T+j+1)*cfg.CaptionChannels])
			}
		}
	}
	x := randTensor(8, B, cfg.InChannels, cfg.SampleSize, cfg.SampleSize)
	run := func(e, mk *kernels.Tensor) []float32 {
		cd, err := m.PrepareCond(t.Context(), e, mk)
		if err != nil {
			t.Fatal(err)
		}
		if cd.T != L {
			t.Fatalf("cond keeps %d tokens, want %d", cd.T, L)
		}
		out, err := m.Forward(t.Context(), x, []float32{900, 300}, nil, cd)
		if err != nil {
			t.Fatal(err)
		}
		return out.F32()
	}
	a, b := run(enc, mask), run(short, shortMask)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("element %d: %v with padding, %v without", i, a[i], b[i])
		}
	}
}
