package nn

import (
	"math"
	"testing"
)

func TestRandomIsDeterministicWithTheRightScale(t *testing.T) {
	specs := []Spec{S("w", []int{64, 400}, Matrix), S("b", []int{20000}, Bias), S("n", []int{20000}, Norm),
		{Name: "e", Shape: []int{20000}, Init: Std, Std: 0.15}}
	a, b := Random(specs, 7, 1), Random(specs, 7, 1)
	c := Random(specs, 8, 1)
	want := map[string][2]float64{"w": {0, 1 / 20.0}, "b": {0, 0.2}, "n": {1, 0.2}, "e": {0, 0.15}} // mean, std
	for name, ms := range want {
		x, y, z := a[name].F32(), b[name].F32(), c[name].F32()
		var sum, sq float64
		for i, v := range x {
			if v != y[i] {
				t.Fatalf("%s: not deterministic at %d", name, i)
			}
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		if x[0] == z[0] && x[1] == z[1] {
			t.Errorf("%s: seed does not change the draw", name)
		}
		n := float64(len(x))
		mean := sum / n
		std := math.Sqrt(sq/n - mean*mean)
		if math.Abs(mean-ms[0]) > 0.01 || math.Abs(std-ms[1])/ms[1] > 0.05 {
			t.Errorf("%s: mean %.4f std %.4f, want %.2f and %.3f", name, mean, std, ms[0], ms[1])
		}
	}
}

func TestMemFileRoundTrip(t *testing.T) {
	ts := Random([]Spec{S("x", []int{3, 4}, Bias)}, 1, 2)
	f, err := MemFile(ts, "mem")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Tensor("x")
	if err != nil || got.F32()[5] != ts["x"].F32()[5] {
		t.Fatalf("round trip: %v %v", got, err)
	}
}
