package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// tinyControlNet writes sana-tiny's ControlNet folder (model/sana
// tiny_control.go) under dir.
func tinyControlNet(t *testing.T, dir string) string {
	t.Helper()
	files, err := sana.TinyControlNetFiles()
	if err != nil {
		t.Fatal(err)
	}
	cn := filepath.Join(dir, "controlnet")
	if err := os.MkdirAll(cn, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(cn, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cn
}

// controlPNG writes a 48×48 pattern (resized by the pipeline to the
// generation size) and returns its path and decoded image.
func controlPNG(t *testing.T, dir, name string, phase int) (string, image.Image) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 48, 48))
	for y := range 48 {
		for x := range 48 {
			img.Set(x, y, color.NRGBA{uint8(x * 5), uint8((y + phase) * 5), uint8((x + y) * 2), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dec, err := sana.DecodeInputImage(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return path, dec
}

// samplePNG reads sample i of a published shard 0: its pixels and meta.
func samplePNG(t *testing.T, out string, i int64) ([]byte, sampleMeta) {
	t.Helper()
	dir := filepath.Join(out, storage.ShardDir("", 0))
	b, err := os.ReadFile(filepath.Join(dir, storage.SampleKey(i)+".png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(dir, storage.SampleKey(i)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m sampleMeta
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	return nrgbaPix(img), m
}

// reference generates sample i of spec as `sanafarm generate` does with
// the same flags: sana.Load (with the ControlNet folder, if any) and one
// request seeded as the node seeds sample i.
func reference(t *testing.T, exec *PipelineExecutor, opts sana.Options, q sana.Request, spec protocol.JobSpec, i int64) []byte {
	t.Helper()
	tinyDir, err := exec.cfg.Models.TinyDir()
	if err != nil {
		t.Fatal(err)
	}
	opts.Tokenizer = sana.LoadTokenizer
	p, err := sana.Load(context.Background(), os.DirFS(tinyDir), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	q.Width, q.Height, q.Steps, q.Guidance = spec.Width, spec.Height, spec.Steps, 4.5
	q.Seed, q.ImagesPerPrompt, q.BatchSize = requestSeed(spec.Seed, i), 1, 1
	res, err := p.Generate(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return res.Images[0].Image.Pix
}

func guidanceExec(t *testing.T) *PipelineExecutor {
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()},
		Node: "n1", Resident: 2, Logger: testLogger(t)})
	t.Cleanup(func() { exec.Close() })
	return exec
}

// TestExecutorPAG: a PAG job's image equals `sanafarm generate
// --pag-scale --pag-adaptive-scale --pag-layers` (sana.Request.PAG), differs
// from the plain job's, records its scale and layers and changes the
// request hash; the plain model stays the resident variant.
func TestExecutorPAG(t *testing.T) {
	exec := guidanceExec(t)
	spec := tinySpec(t.TempDir(), "a red fox")
	spec.Width, spec.Height, spec.ImagesPerPrompt, spec.ShardSize = 64, 64, 1, 1
	plainPNG, plainMeta := runShard(t, exec, spec)
	spec.Output.URL = t.TempDir()
	spec.PAGScale, spec.PAGAdaptiveScale, spec.PAGLayers = 2.5, 0.001, []int{1}
	runShard(t, exec, spec)
	got, meta := samplePNG(t, spec.Output.URL, 0)
	want := reference(t, exec, sana.Options{}, sana.Request{Prompts: spec.Prompts.Inline,
		PAG: sana.PAG{Scale: 2.5, AdaptiveScale: 0.001, Blocks: []int{1}}}, spec, 0)
	if !bytes.Equal(got, want) {
		t.Error("PAG job pixels differ from sanafarm generate with the same PAG flags")
	}
	if p, _ := png.Decode(bytes.NewReader(plainPNG)); bytes.Equal(nrgbaPix(p), got) {
		t.Error("PAG did not change the image")
	}
	var pm sampleMeta
	if err := json.Unmarshal(plainMeta, &pm); err != nil {
		t.Fatal(err)
	}
	if meta.PAGScale != 2.5 || meta.PAGAdaptiveScale != float64(float32(0.001)) || fmt.Sprint(meta.PAGBlocks) != "[1]" || pm.PAGScale != 0 {
		t.Errorf("provenance pag %g %g %v (plain %g)", meta.PAGScale, meta.PAGAdaptiveScale, meta.PAGBlocks, pm.PAGScale)
	}
	if meta.RequestHash == pm.RequestHash {
		t.Error("PAG is not in the request hash")
	}
	if m := exec.Models(); len(m) != 1 || m[0] != sana.TinyPreset {
		t.Errorf("resident %q, want only %s (PAG loads no other variant)", m, sana.TinyPreset)
	}
	spec.PAGLayers = []int{2} // sana-tiny has 2 blocks
	_, err := exec.Execute(context.Background(), assignment(spec, "j-pag", 0, 1), func(int) {})
	if err == nil || !strings.Contains(err.Error(), "PAG block 2 out of range") {
		t.Errorf("PAG layer 2 of sana-tiny: err = %v", err)
	}
}

// TestExecutorControlNet: a job with a ControlNet and one control image
// equals `sanafarm generate --controlnet --control-image
// --controlnet-scale`; its samples record the ControlNet (origin and
// weights) and the control image (URL and sha256), and the ControlNet
// pipeline is its own resident variant.
func TestExecutorControlNet(t *testing.T) {
	exec := guidanceExec(t)
	in := t.TempDir()
	cn := tinyControlNet(t, in)
	ctlPath, ctl := controlPNG(t, in, "edges.png", 0)
	spec := tinySpec(t.TempDir(), "a red fox")
	spec.Width, spec.Height, spec.ImagesPerPrompt, spec.ShardSize = 64, 64, 1, 1
	spec.ControlNet, spec.ControlImage, spec.ControlNetScale = cn, ctlPath, 0.8
	runShard(t, exec, spec)
	got, meta := samplePNG(t, spec.Output.URL, 0)
	want := reference(t, exec, sana.Options{ControlNet: os.DirFS(cn), ControlNetOrigin: cn},
		sana.Request{Prompts: spec.Prompts.Inline, ControlImage: ctl, ControlImageSource: ctlPath, ControlScale: 0.8}, spec, 0)
	if !bytes.Equal(got, want) {
		t.Error("ControlNet job pixels differ from sanafarm generate with the same ControlNet flags")
	}
	b, _ := os.ReadFile(ctlPath)
	if meta.ControlNet != cn || meta.ControlImage != ctlPath || meta.ControlScale != 0.8 ||
		meta.ControlImageSHA256 != sha256Hex(b) || len(meta.ControlNetWeights) != 1 {
		t.Errorf("provenance controlnet %q image %q scale %g sha %q weights %+v", meta.ControlNet, meta.ControlImage,
			meta.ControlScale, meta.ControlImageSHA256, meta.ControlNetWeights)
	}
	if m := exec.Models(); len(m) != 1 || m[0] != spec.VariantKey() || m[0] == sana.TinyPreset {
		t.Errorf("resident %q, want [%s]", m, spec.VariantKey())
	}
}

// TestExecutorControlColumn: a per-row control image column conditions
// each sample on its row's image (batched only with samples sharing it),
// exactly as generate does with that image.
func TestExecutorControlColumn(t *testing.T) {
	exec := guidanceExec(t)
	exec.cfg.BatchSize = 2 // the rows' images differ: still one per batch
	in := t.TempDir()
	cn := tinyControlNet(t, in)
	paths, imgs := make([]string, 2), make([]image.Image, 2)
	for i := range 2 {
		paths[i], imgs[i] = controlPNG(t, in, fmt.Sprintf("c%d.png", i), 7*i)
	}
	prompts := []string{"a red fox", "a blue bird"}
	var rows strings.Builder
	for i, p := range prompts {
		fmt.Fprintf(&rows, "{\"prompt\": %q, \"ctrl\": %q}\n", p, paths[i])
	}
	file := filepath.Join(in, "prompts.jsonl")
	if err := os.WriteFile(file, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := tinySpec(t.TempDir())
	spec.Prompts = protocol.PromptSource{URL: file, Rows: 2}
	spec.Width, spec.Height, spec.ImagesPerPrompt, spec.ShardSize = 64, 64, 1, 2
	spec.ControlNet, spec.ControlImageColumn = cn, "ctrl"
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	runShard(t, exec, spec)
	var hashes []string
	for i := range int64(2) {
		got, meta := samplePNG(t, spec.Output.URL, i)
		want := reference(t, exec, sana.Options{ControlNet: os.DirFS(cn), ControlNetOrigin: cn},
			sana.Request{Prompts: prompts[i : i+1], ControlImage: imgs[i], ControlImageSource: paths[i]}, spec, i)
		if !bytes.Equal(got, want) {
			t.Errorf("sample %d differs from generate with its row's control image", i)
		}
		b, _ := os.ReadFile(paths[i])
		if meta.ControlImage != paths[i] || meta.ControlImageSHA256 != sha256Hex(b) {
			t.Errorf("sample %d: control image %q sha %q", i, meta.ControlImage, meta.ControlImageSHA256)
		}
		hashes = append(hashes, meta.RequestHash)
	}
	if hashes[0] == hashes[1] {
		t.Error("the samples' request hashes are equal")
	}
}

// TestExecutorRefusesControlOutsideAllowList: a ControlNet, control image
// or row control image outside --allow-read fails the task naming the
// field, before it is opened.
func TestExecutorRefusesControlOutsideAllowList(t *testing.T) {
	in := t.TempDir()
	cn := tinyControlNet(t, in)
	ctl, _ := controlPNG(t, in, "c.png", 0)
	file := filepath.Join(in, "prompts.jsonl")
	if err := os.WriteFile(file, []byte(`{"prompt": "a fox", "ctrl": "/etc/passwd"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exec := NewPipelineExecutor(PipelineConfig{Allow: testAllow(in, os.TempDir()), Models: &ModelResolver{CacheRoot: t.TempDir()}, Logger: testLogger(t)})
	defer exec.Close()
	for field, edit := range map[string]func(*protocol.JobSpec){
		"control_image": func(s *protocol.JobSpec) { s.ControlNet, s.ControlImage = cn, "file:///proc/self/environ" },
		"controlnet":    func(s *protocol.JobSpec) { s.ControlNet, s.ControlImage = "/etc", ctl },
		"control_image_column": func(s *protocol.JobSpec) {
			s.ControlNet, s.ControlImageColumn, s.Prompts = cn, "ctrl", protocol.PromptSource{URL: file, Rows: 1}
		},
	} {
		spec := tinySpec(t.TempDir(), "a red fox")
		edit(&spec)
		_, err := exec.Execute(context.Background(), assignment(spec, "j-x", 0, 1), func(int) {})
		if err == nil || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: err = %v", field, err)
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
