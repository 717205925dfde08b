package dcae

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/weights"
)

func goldenConfig(t testing.TB) Config {
	t.Helper()
	c, err := ReadConfig(os.DirFS(goldenDir), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func memFile(t testing.TB, ts map[string]*kernels.Tensor) *weights.File {
	t.Helper()
	var buf bytes.Buffer
	if err := weights.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := weights.OpenBytes("mem", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRandomSpecsMatchGolden checks that the random-weight spec (and so
// what Load binds) names exactly the tensors diffusers saves.
func TestRandomSpecsMatchGolden(t *testing.T) {
	f := openFile(t, "model.safetensors")
	got := map[string][]int{}
	for _, s := range specs(goldenConfig(t)) {
		got[s.Name] = s.Shape
	}
	names := f.Header.Names()
	if len(names) != len(got) {
		t.Errorf("%d tensors in the golden file, %d in specs", len(names), len(got))
	}
	for _, n := range names {
		in, _ := f.Info(n)
		if !slices.Equal(got[n], in.Shape) {
			t.Errorf("%s: spec shape %v, file %v", n, got[n], in.Shape)
		}
	}
}

func TestRandomWeightsDeterministic(t *testing.T) {
	c := goldenConfig(t)
	be := cpu.New(cpu.Config{})
	z := kernels.MustNew(kernels.Float32, 1, c.LatentChannels, 2, 3)
	for i := range z.F32() {
		z.F32()[i] = float32(i%7) - 3
	}
	var outs []*kernels.Tensor
	for range 2 {
		w, err := RandomWeights(c, 7, PartDecoder)
		if err != nil {
			t.Fatal(err)
		}
		out, err := New(c, w, be).Decode(context.Background(), z)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	if d := maxDiff(outs[0], outs[1]); d != 0 {
		t.Errorf("same seed, outputs differ by %g", d)
	}
}

func TestLoadListsEveryMissingTensor(t *testing.T) {
	c := goldenConfig(t)
	ts, err := RandomTensors(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	gone := []string{"decoder.up_blocks.5.0.attn.to_k.weight", "decoder.up_blocks.0.1.norm.bias", "encoder.conv_in.weight"}
	for _, n := range gone {
		delete(ts, n)
	}
	ts["decoder.conv_out.bias"] = kernels.MustNew(kernels.Float32, 4)
	_, err = Load(c, memFile(t, ts), "broken", PartAll)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range append(gone, "decoder.conv_out.bias has shape [4], want [3]") {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	// The decoder alone does not need encoder.conv_in.
	if _, err := Load(c, memFile(t, ts), "broken", PartDecoder); err == nil || strings.Contains(err.Error(), "encoder.") {
		t.Errorf("decoder-only load: %v", err)
	}
}

func TestInputErrors(t *testing.T) {
	c := goldenConfig(t)
	w, err := RandomWeights(c, 1, PartDecoder)
	if err != nil {
		t.Fatal(err)
	}
	m := New(c, w, cpu.New(cpu.Config{}))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		f    func() error
		want string
	}{
		{"channels", func() error { _, e := m.Decode(ctx, kernels.MustNew(kernels.Float32, 1, 4, 2, 2)); return e }, "[B, 8, H, W]"},
		{"rank", func() error { _, e := m.Decode(ctx, kernels.MustNew(kernels.Float32, 8, 2, 2)); return e }, "[B, 8, H, W]"},
		{"nil", func() error { _, e := m.Decode(ctx, nil); return e }, "latents"},
		{"dtype", func() error { _, e := m.Decode(ctx, kernels.MustNew(kernels.BFloat16, 1, 8, 2, 2)); return e }, "Float32"},
		{"no encoder", func() error { _, e := m.Encode(ctx, kernels.MustNew(kernels.Float32, 1, 3, 32, 32)); return e }, "encoder weights"},
	} {
		if err := tc.f(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	we, err := RandomWeights(c, 1, PartEncoder)
	if err != nil {
		t.Fatal(err)
	}
	me := New(c, we, cpu.New(cpu.Config{}))
	if _, err := me.Encode(ctx, kernels.MustNew(kernels.Float32, 1, 3, 48, 32)); err == nil || !strings.Contains(err.Error(), "multiples of 32") {
		t.Errorf("odd size: %v", err)
	}
	if _, err := me.Decode(ctx, kernels.MustNew(kernels.Float32, 1, 8, 1, 1)); err == nil || !strings.Contains(err.Error(), "decoder weights") {
		t.Errorf("encoder-only decode: %v", err)
	}
}

func TestConfigVariants(t *testing.T) {
	base, err := os.ReadFile(goldenDir + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ old, new, want string }{
		{`"decoder_norm_types": "rms_norm"`, `"decoder_norm_types": "batch_norm"`, `decoder_norm_types[0] = "batch_norm"`},
		{`"decoder_norm_types": "rms_norm"`, `"decoder_norm_types": ["rms_norm","rms_norm","rms_norm","rms_norm","rms_norm","batch_norm"]`, `decoder_norm_types[5] = "batch_norm"`},
		{`"decoder_norm_types": "rms_norm"`, `"decoder_norm_types": ["rms_norm","rms_norm"]`, `decoder_norm_types has 2 entries`},
		{`"decoder_act_fns": "silu"`, `"decoder_act_fns": "relu6"`, `decoder_act_fns[0] = "relu6"`},
		{`"upsample_block_type": "interpolate"`, `"upsample_block_type": "pixel_shuffle"`, `upsample_block_type = "pixel_shuffle"`},
		{`,
  "upsample_block_type": "interpolate"`, ``, `upsample_block_type = "pixel_shuffle"`}, // diffusers' default
		{`"downsample_block_type": "conv"`, `"downsample_block_type": "pixel_unshuffle"`, `downsample_block_type = "pixel_unshuffle"`},
		{`"attention_head_dim": 8`, `"attention_head_dim": 12`, `not a multiple of attention_head_dim 12`},
		{`"decoder_conv_act_fn": "relu"`, `"decoder_conv_act_fn": "gelu"`, `decoder_conv_act_fn = "gelu"`},
		{`"scaling_factor": 0.41407`, `"scaling_factor": 0`, `scaling_factor = 0 (want a finite number > 0)`},
		{`"scaling_factor": 0.41407`, `"scaling_factor": -1.5`, `scaling_factor = -1.5`},
		{`"_class_name": "AutoencoderDC"`, `"_class_name": "AutoencoderKL"`, `_class_name = AutoencoderKL`},
		{`"EfficientViTBlock"
  ],
  "decoder_conv_act_fn"`, `"ViT"
  ],
  "decoder_conv_act_fn"`, `decoder_block_types[5] = "ViT"`},
	} {
		js := strings.Replace(string(base), tc.old, tc.new, 1)
		if js == string(base) {
			t.Fatalf("edit %q did not apply", tc.old)
		}
		c := DefaultConfig()
		err := weights.DecodeJSON([]byte(js), &c)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.new, err, tc.want)
		}
	}
	c := goldenConfig(t)
	if len(c.DecoderBlockTypes) != 6 || c.DecoderNormTypes.at(4) != "rms_norm" || !c.EncoderOutShortcut || c.Compression() != 32 {
		t.Errorf("parsed config %+v", c)
	}
}

// TestBF16Weights decodes with every weight stored as bfloat16: matrices
// stay 16-bit (the backend widens them), and the result tracks the f32
// golden output to bf16 precision.
func TestBF16Weights(t *testing.T) {
	c := goldenConfig(t)
	f := openFile(t, "model.safetensors")
	ts := map[string]*kernels.Tensor{}
	for _, n := range f.Header.Names() {
		x := mustTensor(t, f, n)
		u := make([]uint16, x.Len())
		for i, v := range x.F32() {
			u[i] = kernels.F32ToBF16(v)
		}
		ts[n], _ = kernels.FromU16(kernels.BFloat16, u, x.Shape()...)
	}
	w, err := Load(c, memFile(t, ts), "bf16", PartAll)
	if err != nil {
		t.Fatal(err)
	}
	if dt := w.dec.stages[5].layers[0].vit.qkv.DType(); dt != kernels.BFloat16 {
		t.Errorf("fused qkv is %v, want it kept as BF16", dt)
	}
	if dt := w.dec.convIn.w.DType(); dt != kernels.BFloat16 {
		t.Errorf("conv weight is %v, want it kept as BF16", dt)
	}
	m := New(c, w, cpu.New(cpu.Config{}))
	got, err := m.Decode(context.Background(), mustTensor(t, openFile(t, "inputs.safetensors"), "latent"))
	if err != nil {
		t.Fatal(err)
	}
	d, refMax, _ := compare(t, got, openFile(t, "outputs.safetensors"), "decode_sample")
	t.Logf("bf16 weights: max_abs=%.3g vs the f32-weight golden (max|ref| %.3g)", d, refMax)
	if d > 0.05*refMax { // bf16 keeps 8 bits: ~0.4% per weight, through ~25 layers
		t.Errorf("bf16 weights: max abs diff %.3g > %.3g", d, 0.05*refMax)
	}
}

// BenchmarkDecodeTiny256 decodes an 8×8 latent (256² image) with the
// golden tiny config (random weights) on all threads.
func BenchmarkDecodeTiny256(b *testing.B) {
	c := goldenConfig(b)
	w, err := RandomWeights(c, 1, PartDecoder)
	if err != nil {
		b.Fatal(err)
	}
	m := New(c, w, cpu.New(cpu.Config{}))
	z := kernels.MustNew(kernels.Float32, 1, c.LatentChannels, 8, 8)
	for i := range z.F32() {
		z.F32()[i] = float32(i%11)/5 - 1
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Decode(context.Background(), z); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQuadraticMatchesLinear: both attention forms compute the same
// o_n = Σ_m v_m (k_m·q_n) / (Σ_m k_m·q_n + eps); only rounding differs.
func TestQuadraticMatchesLinear(t *testing.T) {
	be := cpu.New(cpu.Config{})
	m := &Model{be: be}
	const B, N, G, Dh = 2, 6, 3, 4
	rnd := func(seed int) *kernels.Tensor {
		x := kernels.MustNew(kernels.Float32, B, N, G*Dh)
		for i := range x.F32() {
			x.F32()[i] = float32((i*seed)%13)/6 - 1
		}
		return x
	}
	q, k, v := rnd(5), rnd(7), rnd(11)
	lin, quad := kernels.MustNew(kernels.Float32, B, N, G*Dh), kernels.MustNew(kernels.Float32, B, N, G*Dh)
	if err := be.LinearAttention(lin, q, k, v, kernels.LinAttnParams{Heads: G, Eps: attnEps}); err != nil {
		t.Fatal(err)
	}
	r := newRun(be)
	m.quadraticAttention(r, quad, q, k, v, G)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d := maxDiff(lin, quad); d > 1e-5*maxAbsOf(lin) {
		t.Errorf("quadratic vs linear attention: max abs diff %g", d)
	}
}

// TestSanaParameterCounts checks the bound tensor list against the
// published Sana DC-AE f32c32 sizes (encoder 153,027,104, decoder
// 159,223,171 parameters) using the shipped vae/config.json.
func TestSanaParameterCounts(t *testing.T) {
	js := `{"_class_name": "AutoencoderDC", "attention_head_dim": 32,
	 "decoder_block_types": ["ResBlock","ResBlock","ResBlock","EfficientViTBlock","EfficientViTBlock","EfficientViTBlock"],
	 "encoder_block_types": ["ResBlock","ResBlock","ResBlock","EfficientViTBlock","EfficientViTBlock","EfficientViTBlock"],
	 "decoder_block_out_channels": [128,256,512,512,1024,1024], "encoder_block_out_channels": [128,256,512,512,1024,1024],
	 "decoder_layers_per_block": [3,3,3,3,3,3], "encoder_layers_per_block": [2,2,2,3,3,3],
	 "decoder_qkv_multiscales": [[],[],[],[5],[5],[5]], "encoder_qkv_multiscales": [[],[],[],[5],[5],[5]],
	 "decoder_norm_types": "rms_norm", "decoder_act_fns": "silu", "downsample_block_type": "Conv",
	 "upsample_block_type": "interpolate", "in_channels": 3, "latent_channels": 32, "scaling_factor": 0.41407}`
	c := DefaultConfig()
	if err := weights.DecodeJSON([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, s := range specs(c) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		count[strings.SplitN(s.Name, ".", 2)[0]] += n
	}
	if count["encoder"] != 153027104 || count["decoder"] != 159223171 {
		t.Errorf("parameters: encoder %d, decoder %d; want 153027104, 159223171", count["encoder"], count["decoder"])
	}
}
