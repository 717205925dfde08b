package dcae

import (
	"context"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// codeTiny encodes an image and decodes a latent with random weights on be.
func codeTiny(t *testing.T, c Config, be kernels.Backend) (w *Weights, lat, img *kernels.Tensor) {
	t.Helper()
	w, err := RandomWeights(c, 5, PartAll)
	if err != nil {
		t.Fatal(err)
	}
	m := New(c, w, be)
	ctx := context.Background()
	x := kernels.MustNew(kernels.Float32, 1, c.InChannels, 32, 32)
	for i := range x.F32() {
		x.F32()[i] = float32(i%17)/8 - 1
	}
	if lat, err = m.Encode(ctx, x); err != nil {
		t.Fatal(err)
	}
	z := kernels.MustNew(kernels.Float32, 1, c.LatentChannels, 2, 3)
	for i := range z.F32() {
		z.F32()[i] = float32(i%7) - 3
	}
	if img, err = m.Decode(ctx, z); err != nil {
		t.Fatal(err)
	}
	return w, lat, img
}

// TestBF16PrecisionRoundsTheMatrices: in kernels.PrecisionBF16 the dense
// and 1×1 conv weights and the Linear matrices are BF16 after the first
// call and the rest (depthwise convs, norms, biases) stays F32; in float32
// nothing changes dtype; encoder and decoder outputs stay close.
func TestBF16PrecisionRoundsTheMatrices(t *testing.T) {
	c := goldenConfig(t)
	w32, lat32, img32 := codeTiny(t, c, cpu.New(cpu.Config{}))
	all := nn.DTypes(w32)
	if len(all) != 1 || all[kernels.Float32] == 0 {
		t.Errorf("float32 run: dtypes %v, want all F32", all)
	}
	w16, lat16, img16 := codeTiny(t, c, cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}))
	n := len(w16.matrices())
	if got := nn.DTypes(w16); got[kernels.BFloat16] != n || got[kernels.Float32] != all[kernels.Float32]-n {
		t.Errorf("bf16 run: dtypes %v, want %d BF16 and %d F32", got, n, all[kernels.Float32]-n)
	}
	var res *resBlock
	var vit *vitBlock
	for _, s := range w16.dec.stages {
		for _, l := range s.layers {
			res, vit = cmp(res, l.res), cmp(vit, l.vit)
		}
	}
	if res == nil || vit == nil || len(vit.ms) == 0 {
		t.Fatal("the test config lacks a ResBlock or a multi-scale ViT block")
	}
	for name, x := range map[string]struct {
		t  *kernels.Tensor
		dt kernels.DType
	}{
		"decoder.conv_in.weight": {w16.dec.convIn.w, kernels.BFloat16}, "encoder.conv_out.weight": {w16.enc.convOut.w, kernels.BFloat16},
		"conv1.weight": {res.conv1.w, kernels.BFloat16}, "conv1.bias": {res.conv1.b, kernels.Float32},
		"norm.weight": {res.norm.w, kernels.Float32}, "qkv": {vit.qkv, kernels.BFloat16}, "to_out": {vit.out, kernels.BFloat16},
		"conv_inverted.weight": {vit.inv.w, kernels.BFloat16}, "conv_inverted.bias": {vit.inv.b, kernels.Float32},
		"conv_depth.weight": {vit.depth.w, kernels.Float32}, "conv_point.weight": {vit.point, kernels.BFloat16},
		"proj_in.weight": {vit.ms[0].dw, kernels.Float32}, "proj_out.weight": {vit.ms[0].pw, kernels.BFloat16},
		"decoder.norm_out.weight": {w16.dec.normOut.w, kernels.Float32},
	} {
		if x.t.DType() != x.dt {
			t.Errorf("%s is %v, want %v", name, x.t.DType(), x.dt)
		}
	}
	for name, p := range map[string][2]*kernels.Tensor{"encode": {lat16, lat32}, "decode": {img16, img32}} {
		d := nn.MaxRelDiff(p[0], p[1])
		t.Logf("%s with bf16 weights: relative max error %.3g", name, d)
		if d > 2e-2 || d == 0 {
			t.Errorf("%s with bf16 weights: relative max error %.3g, want in (0, 2e-2]", name, d)
		}
	}
}

// cmp keeps the first non-nil of have and x.
func cmp[T any](have, x *T) *T {
	if have != nil {
		return have
	}
	return x
}
