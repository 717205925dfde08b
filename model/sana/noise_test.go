package sana

// fixedNoise replays given per-sample streams (tests inject the golden
// latents through it).
type fixedNoise struct{ samples [][]float32 }

func (f fixedNoise) Sample(_ uint64, i int) Normal { return &replay{data: f.samples[i]} }

type replay struct{ data []float32 }

func (r *replay) Randn(n int) []float32 {
	out := make([]float32, n)
	k := copy(out, r.data)
	r.data = r.data[k:]
	return out
}
