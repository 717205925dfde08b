package dit

import (
	"context"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestPAGAndControlErrors: bad PAG blocks, perturbed rows beyond the
// batch and mis-shaped ControlNet samples are errors naming the problem;
// PAG with zero perturbed rows changes nothing.
func TestPAGAndControlErrors(t *testing.T) {
	c := tinyConfig(false, false)
	w, err := RandomWeights(c, 5)
	if err != nil {
		t.Fatal(err)
	}
	m := New(c, w, cpu.New(cpu.Config{}))
	ctx := context.Background()
	cd, err := m.PrepareCond(ctx, kernels.MustNew(kernels.Float32, 2, 5, 48), kernels.MustNew(kernels.Int64, 2, 5))
	if err != nil {
		t.Fatal(err)
	}
	x := kernels.MustNew(kernels.Float32, 2, 8, 3, 5)
	for i := range x.F32() {
		x.F32()[i] = float32(i%7) / 7
	}
	ts := []float32{500, 500}
	for name, tc := range map[string]struct {
		cd   *Cond
		want string
	}{
		"block":   {cd.WithPAG([]int{99}, 1), "PAG block 99"},
		"rows":    {cd.WithPAG([]int{0}, 3), "perturbs 3 samples"},
		"control": {cd.WithControl([]*kernels.Tensor{kernels.MustNew(kernels.Float32, 2, 14, c.Dim())}), "ControlNet sample 0"},
	} {
		if _, err := m.Forward(ctx, x, ts, nil, tc.cd); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	plain, err := m.Forward(ctx, x, ts, nil, cd)
	if err != nil {
		t.Fatal(err)
	}
	off, err := m.Forward(ctx, x, ts, nil, cd.WithPAG([]int{0}, 0))
	if err != nil {
		t.Fatal(err)
	}
	pag, err := m.Forward(ctx, x, ts, nil, cd.WithPAG([]int{0}, 1))
	if err != nil {
		t.Fatal(err)
	}
	per := plain.Len() / 2
	for i, v := range plain.F32() {
		if off.F32()[i] != v {
			t.Fatalf("PAG with 0 rows changed output %d", i)
		}
		if i < per && pag.F32()[i] != v { // linear attention is per sample: row 0 unchanged
			t.Fatalf("PAG on sample 1 changed sample 0 at %d", i)
		}
	}
	if pag.F32()[per] == plain.F32()[per] && pag.F32()[per+1] == plain.F32()[per+1] {
		t.Error("PAG did not change the perturbed sample")
	}
}
