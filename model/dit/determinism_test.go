package dit

import (
	"os"
	"path"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestDeterministic: the same inputs give bit-identical outputs across
// runs and across thread counts (the farm's promise: same job, same
// backend → same pixels, whatever the node's core count). The portable and the SIMD
// kernels round differently (FMA, accumulation order), so each path is
// compared with itself.
func TestDeterministic(t *testing.T) {
	fsys := os.DirFS(path.Join("../../testdata/golden", "sana_transformer_v15"))
	cfg, err := ReadConfig(fsys, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := Load(cfg, open(t, fsys, "model.safetensors"), "v15")
	if err != nil {
		t.Fatal(err)
	}
	in := open(t, fsys, "inputs.safetensors")
	for _, noSIMD := range []bool{false, true} {
		ref := runGolden(t, New(cfg, w, cpu.New(cpu.Config{Threads: 1, NoSIMD: noSIMD})), in)
		for _, threads := range []int{1, 2, 3, 4} {
			c := cpu.Config{Threads: threads, NoSIMD: noSIMD}
			got := runGolden(t, New(cfg, w, cpu.New(c)), in)
			for i, v := range ref.F32() {
				if got.F32()[i] != v {
					t.Errorf("%+v: element %d = %v, single-thread run %v", c, i, got.F32()[i], v)
					break
				}
			}
		}
	}
}
