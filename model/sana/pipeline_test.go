package sana

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dcae"
)

// TestDecodeGolden decodes pipeline_loop's final_latent the way Generate
// does and compares with diffusers' decoded and image_pt (README atol 5e-4).
func TestDecodeGolden(t *testing.T) {
	fsys := os.DirFS(loopCase)
	cfg, err := dcae.ReadConfig(fsys, "vae/config.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := dcae.Load(cfg, mustOpen(t, "vae/diffusion_pytorch_model.safetensors"), "vae", dcae.PartDecoder)
	if err != nil {
		t.Fatal(err)
	}
	out := mustOpen(t, "outputs.safetensors")
	got, err := Decode(context.Background(), dcae.New(cfg, w, cpu.New(cpu.Config{})), get(t, out, "final_latent"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []float32
	}{{"decoded", got.F32()}, {"image_pt", PostprocessPT(got).F32()}} {
		want, _, err := out.Float64s(c.name)
		if err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for i, v := range want {
			d = math.Max(d, math.Abs(float64(c.got[i])-v))
		}
		t.Logf("%s max_abs=%.3g (tol 5e-4)", c.name, d)
		if !(d <= 5e-4) || len(want) != len(c.got) {
			t.Errorf("%s: max abs diff %.3g > 5e-4 (or %d values, want %d)", c.name, d, len(c.got), len(want))
		}
	}
}

func TestBinSize(t *testing.T) {
	cases := []struct {
		sample, h, w, wantH, wantW int
	}{
		{16, 1024, 1024, 512, 512},
		{32, 1024, 1024, 1024, 1024},
		{32, 768, 1360, 768, 1344},   // ar 0.5647 → 0.57
		{16, 1000, 500, 704, 352},    // ar 2.0
		{64, 2048, 2048, 2048, 2048}, // 2K
		{128, 4096, 2048, 5632, 2816},
		{32, 100, 10000, 512, 2048}, // clamps to the widest bin
	}
	for _, c := range cases {
		h, w, err := BinSize(c.sample, c.h, c.w)
		if err != nil || h != c.wantH || w != c.wantW {
			t.Errorf("BinSize(%d, %d, %d) = %d, %d, %v; want %d, %d", c.sample, c.h, c.w, h, w, err, c.wantH, c.wantW)
		}
	}
	if _, _, err := BinSize(8, 64, 64); err == nil {
		t.Error("sample_size 8 should have no bin table")
	}
}

// TestResizeAndCrop checks PyTorch's bilinear (align_corners=False)
// values on a 1×2 → 2×4 upsample, then the centre crop.
func TestResizeAndCrop(t *testing.T) {
	src := []float32{0, 1}
	got := resizeAndCrop(src, 1, 1, 1, 2, 2, 4)
	want := []float32{0, 0.25, 0.75, 1, 0, 0.25, 0.75, 1}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Fatalf("upsample = %v, want %v", got, want)
		}
	}
	// 2×2 → request 2×1: scale max(1, 0.5) = 1, crop column start 0.
	got = resizeAndCrop([]float32{1, 2, 3, 4}, 1, 1, 2, 2, 2, 1)
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("crop = %v, want [1 3]", got)
	}
}

func TestToByte(t *testing.T) {
	cases := map[float32]uint8{0: 0, 1: 255, 0.5: 128, 2.5 / 255: 2, 3.5 / 255: 4, 0.001: 0}
	for in, want := range cases {
		if got := toByte(in); got != want {
			t.Errorf("toByte(%g) = %d, want %d", in, got, want)
		}
	}
	if toUnit(-3) != 0 || toUnit(3) != 1 || toUnit(0) != 0.5 {
		t.Error("toUnit does not clamp x/2+0.5")
	}
}

func TestPNGText(t *testing.T) {
	imgs, err := toImages([]float32{-1, 0, 1, 0.5, 0, 0, 0, 0, 1, -1, 1, 0.2}, 1, 3, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	text := map[string]string{"parameters": `{"prompt":"a café ☕"}`, "Software": "sanafarm"}
	if err := EncodePNG(&buf, imgs[0], text); err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("decoding our PNG: %v", err)
	}
	if r, g, b, a := dec.At(1, 0).RGBA(); r>>8 != 128 || g>>8 != 128 || b>>8 != 0 || a>>8 != 255 {
		t.Errorf("pixel (1,0) = %d %d %d %d, want 128 128 0 255", r>>8, g>>8, b>>8, a>>8)
	}
	got, err := ReadPNGText(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range text {
		if got[k] != v {
			t.Errorf("text %q = %q, want %q", k, got[k], v)
		}
	}
	bad := bytes.Clone(buf.Bytes())
	bad[40] ^= 0xff // inside the first iTXt chunk
	if _, err := ReadPNGText(bytes.NewReader(bad)); err == nil {
		t.Error("a corrupted chunk should fail its CRC")
	}
}

func TestTokenize(t *testing.T) {
	files, err := tinyFiles(TinyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadTokenizer(mapFS(files), "tokenizer")
	if err != nil {
		t.Fatal(err)
	}
	chi, _ := tok.Encode(CHI())
	x, err := tokenize(tok, "  A Red FOX  ", true, 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.ids) != len(chi)+298 || len(x.keep) != 300 || x.keep[0] != 0 || x.keep[1] != len(chi)-1 {
		t.Fatalf("chi %d tokens: %d ids, keep %d from %v", len(chi), len(x.ids), len(x.keep), x.keep[:2])
	}
	plain, _ := tok.Encode(CHI() + "a red fox")
	for i, id := range plain {
		if x.ids[i] != int64(id) || x.mask[i] != 1 {
			t.Fatalf("id %d = %d (mask %d), want %d", i, x.ids[i], x.mask[i], id)
		}
	}
	if x.mask[len(plain)] != 0 || len(chi) > 400 {
		t.Errorf("padding starts at %d; chi is %d tokens (want a short instruction)", len(plain), len(chi))
	}
	neg, _ := tokenize(tok, "", false, 300)
	if len(neg.ids) != 300 || neg.ids[0] != 2 || neg.mask[0] != 1 || neg.mask[1] != 0 {
		t.Errorf("empty negative prompt: %v %v", neg.ids[:3], neg.mask[:3])
	}
}
