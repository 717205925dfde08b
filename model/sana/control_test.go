package sana

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"os"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

func controlImage(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(4 * x), uint8(3 * y), uint8(x ^ y), 255})
		}
	}
	return img
}

// TestTinyControlNet generates with a ControlNet on sana-tiny: the control
// image and scale change the image, the parameters record them, and
// requests without a control image (or with one but no ControlNet) fail.
func TestTinyControlNet(t *testing.T) {
	files, err := tinyFiles(TinyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cn, err := TinyControlNetFiles()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), mapFS(files), Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer,
		ControlNet: mapFS(cn), ControlNetOrigin: "tiny-cn"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	req := Request{Prompts: []string{"a red fox"}, Width: 128, Height: 128, NoBinning: true, Steps: 2, Seed: 3,
		ControlImage: controlImage(100, 140), ControlImageSource: "edges.png"}
	a, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if pp := a.Images[0].Params; pp.ControlNet != "tiny-cn" || pp.ControlImage != "edges.png" || pp.ControlScale != DefaultControlScale {
		t.Errorf("params %+v", pp)
	}
	req.ControlScale = 0.25
	b, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Images[0].Image.Pix, b.Images[0].Image.Pix) {
		t.Error("conditioning scale 0.25 gave the same image as 1.0")
	}
	req.ControlImage = nil
	if _, err := p.Generate(context.Background(), req); err == nil || !strings.Contains(err.Error(), "control image") {
		t.Errorf("no control image: %v", err)
	}
	plain := loadTiny(t, TinyOptions{})
	if _, err := plain.Generate(context.Background(), Request{Prompts: []string{"x"}, Steps: 1, ControlImage: controlImage(8, 8)}); err == nil || !strings.Contains(err.Error(), "ControlNet") {
		t.Errorf("control image without a ControlNet: %v", err)
	}
}

// TestLoadControlNetPipeline loads a SanaControlNetPipeline folder: its
// controlnet/ component and the autoencoder's encoder come with it.
func TestLoadControlNetPipeline(t *testing.T) {
	p, err := Load(context.Background(), os.DirFS("../../testdata/golden/pipeline_controlnet"), Options{Origin: "case"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.control == nil || p.controlOrigin != "case/controlnet" {
		t.Errorf("controlnet %v origin %q", p.control, p.controlOrigin)
	}
}
