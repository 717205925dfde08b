package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/sana"
)

// TestGenerateControlNet: --controlnet FOLDER --control-image FILE
// --controlnet-scale reach the pipeline and the PNG's parameters; a
// ControlNet without a control image, and a bad folder, are errors.
func TestGenerateControlNet(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	tmp := t.TempDir()
	cnDir := filepath.Join(tmp, "cn")
	files, err := sana.TinyControlNetFiles()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(cnDir, 0o755)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(cnDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctrl := filepath.Join(tmp, "edges.png")
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := range 64 {
		img.Set(i, i, color.White)
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	os.WriteFile(ctrl, buf.Bytes(), 0o644)
	out := filepath.Join(tmp, "out.png")
	base := []string{"generate", "--model", "sana-tiny", "-p", "a fox", "--steps", "2", "--width", "128", "--height", "128", "-q", "--dest", out, "--controlnet", cnDir}
	var stdout, stderr bytes.Buffer
	meta, params := generateMeta(t, append(base, "--control-image", ctrl, "--controlnet-scale", "0.5"), out)
	if meta.ControlNet != cnDir || meta.ControlImage != ctrl || meta.ControlScale != 0.5 {
		t.Errorf("parameters %s: want controlnet, control_image and scale 0.5", params)
	}
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no control image": {base, "control image"},
		"bad folder":       {append(slices.Clone(base[:len(base)-1]), filepath.Join(tmp, "nope")), "--controlnet"},
	} {
		stderr.Reset()
		if code := run(context.Background(), c.args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", name, code, stderr.String(), c.want)
		}
	}
}

// TestGoldenCommandIssue17 runs `sanafarm golden` on the PAG and ControlNet
// cases: every line passes.
func TestGoldenCommandIssue17(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"golden", "../../testdata/golden/pipeline_pag", "../../testdata/golden/controlnet_sana", "../../testdata/golden/pipeline_controlnet"}
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, l := range []string{"PASS pipeline_pag[latents]", "PASS pipeline_pag[nocfg][latents]", "PASS controlnet_sana max_abs=",
		"PASS pipeline_controlnet[controlnet]", "PASS pipeline_controlnet[decoded]", "PASS pipeline_controlnet[scale0][latents]"} {
		if !strings.Contains(out.String(), l) {
			t.Errorf("stdout lacks %q:\n%s", l, out.String())
		}
	}
	if n := strings.Count(out.String(), "PASS "); n != 15 {
		t.Errorf("%d PASS lines, want 15:\n%s", n, out.String())
	}
}
