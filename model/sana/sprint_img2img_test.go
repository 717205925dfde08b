package sana

import (
	"bytes"
	"context"
	"image"
	"math"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
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

// TestSprintImg2ImgGenerate: an init image steers a Sprint request (two
// init images give two results), strength is recorded, and the wrong
// setups are errors.
func TestSprintImg2ImgGenerate(t *testing.T) {
	files, err := tinyFiles(TinyOptions{Sprint: true})
	if err != nil {
		t.Fatal(err)
	}
	load := func(img2img bool) *Pipeline {
		p, err := Load(context.Background(), mapFS(files), Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer, ImageToImage: img2img})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	p := load(true)
	solid := func(v uint8) image.Image {
		img := image.NewNRGBA(image.Rect(0, 0, 96, 80)) // resized and cropped to the 64×64 generation size
		for i := range img.Pix {
			img.Pix[i] = v
		}
		return img
	}
	gen := func(p *Pipeline, init image.Image, strength float64) (*Result, error) {
		return p.Generate(context.Background(), Request{Prompts: []string{"a fox"}, Width: 64, Height: 64, NoBinning: true, Seed: 5,
			InitImage: init, Strength: strength, InitImageSource: "init.png"})
	}
	black, err := gen(p, solid(0), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	white, err := gen(p, solid(255), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(black.Images[0].Image.Pix, white.Images[0].Image.Pix) {
		t.Error("the init image does not change the result")
	}
	if pr := black.Images[0].Params; pr.InitImage != "init.png" || pr.Strength != 0.5 {
		t.Errorf("params %+v", pr)
	}
	for name, c := range map[string]struct {
		p        *Pipeline
		init     image.Image
		strength float64
		want     string
	}{
		"strength alone":   {p, nil, 0.5, "without an init image"},
		"no encoder":       {load(false), solid(0), 0.5, "Options.ImageToImage"},
		"strength above 1": {p, solid(0), 1.5, "strength 1.5"},
		"not sprint":       {loadTiny(t, TinyOptions{}), solid(0), 0.5, "Sprint pipeline"},
	} {
		if _, err := gen(c.p, c.init, c.strength); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
}
