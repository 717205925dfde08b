package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/sana"
)

// pngPix decodes a PNG file to NRGBA pixels.
func pngPix(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewNRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out.Pix
}

// TestSubmitPAGControlNet: `submit --pag-scale --pag-layers` and `submit
// --controlnet --control-image --controlnet-scale` run on the farm
// (sanafarm dev, sana-tiny and its tiny ControlNet) and give the image
// `sanafarm generate` gives with the same flags; a control image outside
// --allow-read and PAG on a Sprint preset are refused at submit, naming
// the field.
func TestSubmitPAGControlNet(t *testing.T) {
	addr := startDev(t)
	dir := t.TempDir()
	files, err := sana.TinyControlNetFiles()
	if err != nil {
		t.Fatal(err)
	}
	cn := filepath.Join(dir, "cn")
	if err := os.MkdirAll(cn, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(cn, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctl := filepath.Join(dir, "edges.png")
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := range 64 {
		img.Set(i, i, color.White)
		img.Set(63-i, i, color.White)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ctl, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--model", "sana-tiny", "-p", "a red fox", "--steps", "2", "--width", "64", "--height", "64", "--seed", "9"}
	for name, flags := range map[string][]string{
		"pag":        {"--pag-scale", "2", "--pag-adaptive-scale", "0.001", "--pag-layers", "1"},
		"controlnet": {"--controlnet", cn, "--control-image", ctl, "--controlnet-scale", "0.7"},
	} {
		out := filepath.Join(dir, "out-"+name)
		args := append(append([]string{"submit", "--addr", addr, "--dest", out, "--wait"}, common...), flags...)
		if code, _, stderr := sanafarm(args...); code != 0 {
			t.Fatalf("%s: submit exit %d: %s", name, code, stderr)
		}
		pngs, _ := filepath.Glob(filepath.Join(out, "*", "*.png"))
		if len(pngs) != 1 {
			t.Fatalf("%s: %d samples under %s", name, len(pngs), out)
		}
		ref := filepath.Join(dir, name+".png")
		var stdout, stderr bytes.Buffer
		gen := append(append([]string{"generate", "-q", "--dest", ref}, common...), flags...)
		if code := run(context.Background(), gen, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: generate exit %d: %s", name, code, stderr.String())
		}
		if !bytes.Equal(pngPix(t, pngs[0]), pngPix(t, ref)) {
			t.Errorf("%s: the farm's image differs from generate's with the same flags", name)
		}
	}
	for _, c := range []struct {
		field, why string
		code       int // 1: the coordinator refused it; 2: submit did, by the spec's rules (submitcheck.go)
		flags      []string
	}{
		{"control_image", "refused", 1, []string{"--model", "sana-tiny", "--controlnet", cn, "--control-image", "/etc/hostname"}},
		{"--pag-scale", "Sprint", 2, []string{"--model", "sana-sprint-600m", "--pag-scale", "2"}},
	} {
		args := append([]string{"submit", "--addr", addr, "-p", "a fox", "--dest", filepath.Join(dir, "refused")}, c.flags...)
		if code, _, stderr := sanafarm(args...); code != c.code || !strings.Contains(stderr, c.field) || !strings.Contains(stderr, c.why) {
			t.Errorf("%s: exit %d, want %d: %q", c.field, code, c.code, stderr)
		}
	}
}
