package controlnet

import (
	"context"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/internal/nn"
	"github.com/sanafarm/sanafarm/model/weights"
)

// controlGolden runs the golden ControlNet checkpoint once on be.
func controlGolden(t *testing.T, be kernels.Backend) (*Weights, []*kernels.Tensor) {
	t.Helper()
	fsys := os.DirFS("../../testdata/golden/controlnet_sana")
	c, err := ReadConfig(fsys, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Open(fsys, "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w, err := Load(c, f, "controlnet_sana")
	if err != nil {
		t.Fatal(err)
	}
	m := New(c, w, be)
	ctx := context.Background()
	enc, mask := kernels.MustNew(kernels.Float32, 1, 5, c.CaptionChannels), kernels.MustNew(kernels.Int64, 1, 5)
	for i := range enc.F32() {
		enc.F32()[i] = float32(i%13)/13 - 0.5
	}
	for i := range mask.I64() {
		mask.I64()[i] = 1
	}
	cd, err := m.PrepareCond(ctx, enc, mask)
	if err != nil {
		t.Fatal(err)
	}
	x, cond := kernels.MustNew(kernels.Float32, 1, c.InChannels, 4, 4), kernels.MustNew(kernels.Float32, 1, c.InChannels, 4, 4)
	for i := range x.F32() {
		x.F32()[i], cond.F32()[i] = float32(i%11)/11-0.5, float32(i%5)/5-0.4
	}
	out, err := m.Control(ctx, x, cond, []float32{700}, cd, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	return w, out
}

// TestBF16PrecisionRoundsTheMatrices: in kernels.PrecisionBF16 the input
// and output projections (and the trunk's Linear weights, through package
// dit) are BF16 after the first Control, biases stay F32; in float32
// nothing changes dtype; the block samples stay close to the float32 ones.
func TestBF16PrecisionRoundsTheMatrices(t *testing.T) {
	w32, ref := controlGolden(t, cpu.New(cpu.Config{}))
	all := nn.DTypes(w32)
	if len(all) != 1 || all[kernels.Float32] == 0 {
		t.Errorf("float32 run: dtypes %v, want all F32", all)
	}
	w16, out := controlGolden(t, cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}))
	// The trunk's Linear modules less proj_out (not in a trunk), plus input_block and one per block.
	n := len(w16.trunk.LoRAModules()) - 1 + 1 + len(w16.blocks)
	if got := nn.DTypes(w16); got[kernels.BFloat16] != n || got[kernels.Float32] != all[kernels.Float32]-n {
		t.Errorf("bf16 run: dtypes %v, want %d BF16 and %d F32", got, n, all[kernels.Float32]-n)
	}
	for name, x := range map[string]struct {
		t  *kernels.Tensor
		dt kernels.DType
	}{
		"input_block.weight": {w16.input.w, kernels.BFloat16}, "input_block.bias": {w16.input.b, kernels.Float32},
		"controlnet_blocks.1.weight": {w16.blocks[1].w, kernels.BFloat16}, "controlnet_blocks.1.bias": {w16.blocks[1].b, kernels.Float32},
	} {
		if x.t.DType() != x.dt {
			t.Errorf("%s is %v, want %v", name, x.t.DType(), x.dt)
		}
	}
	for i := range ref {
		d := nn.MaxRelDiff(out[i], ref[i])
		t.Logf("block %d sample with bf16 weights: relative max error %.3g", i, d)
		if d > 2e-2 || d == 0 {
			t.Errorf("block %d sample with bf16 weights: relative max error %.3g, want in (0, 2e-2]", i, d)
		}
	}
}
