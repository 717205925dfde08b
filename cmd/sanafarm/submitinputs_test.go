package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
)

// writeHubSprint puts a tiny Sprint pipeline into an offline Hugging Face
// cache as repo, so a farm job can name it (sana-tiny is not a Sprint
// model).
func writeHubSprint(t *testing.T, cache, repo string) {
	t.Helper()
	commit := strings.Repeat("ab", 20)
	root := filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
	if err := sana.WriteTinyPipeline(filepath.Join(root, "snapshots", commit), sana.TinyOptions{Sprint: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSubmitInitImage: `submit --init-image --strength` runs an
// image-to-image job on the farm (sanafarm dev, a tiny Sprint model from
// the Hub cache); every sample's .json records the init image's URL,
// sha256 and the strength. The same flags on a non-Sprint preset are
// refused at submit, naming init_image.
func TestSubmitInitImage(t *testing.T) {
	hf := t.TempDir()
	t.Setenv("HF_HUB_CACHE", hf)
	t.Setenv("HF_HUB_OFFLINE", "1")
	writeHubSprint(t, hf, "test/tiny-sprint")
	addr := startDev(t)
	dir := t.TempDir()
	initPath := filepath.Join(dir, "init.png")
	f, err := os.Create(initPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "out")
	code, stdout, stderr := sanafarm("submit", "--addr", addr, "--model", "test/tiny-sprint", "-p", "a red fox",
		"--width", "64", "--height", "64", "--init-image", initPath, "--strength", "0.5", "--dest", out, "--wait", "-o", "json")
	if code != 0 {
		t.Fatalf("submit exit %d: %s", code, stderr)
	}
	var job protocol.Job
	if err := json.Unmarshal([]byte(stdout), &job); err != nil || job.State != protocol.JobDone || job.Spec.InitImage != "file://"+initPath {
		t.Fatalf("submit printed %s (%v)", stdout, err)
	}
	metas, _ := filepath.Glob(filepath.Join(out, "*", "*.json"))
	if len(metas) != 1 {
		t.Fatalf("%d sample .json files under %s", len(metas), out)
	}
	b, err := os.ReadFile(metas[0])
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		InitImage string  `json:"init_image"`
		SHA256    string  `json:"init_image_sha256"`
		Strength  float64 `json:"strength"`
	}
	raw, _ := os.ReadFile(initPath)
	sum := sha256.Sum256(raw)
	if json.Unmarshal(b, &meta) != nil || meta.InitImage != "file://"+initPath || meta.SHA256 != hex.EncodeToString(sum[:]) || meta.Strength != 0.5 {
		t.Errorf("sample provenance %s", b)
	}

	checkInitColumn(t, addr, dir, initPath)

	code, _, stderr = sanafarm("submit", "--addr", addr, "--model", "sana-tiny", "-p", "a red fox",
		"--init-image", initPath, "--dest", filepath.Join(dir, "out2"))
	if code != 2 || !strings.Contains(stderr, "--init-image") || !strings.Contains(stderr, "Sprint") {
		t.Errorf("non-Sprint model: exit %d, want 2 (submitcheck.go): %q", code, stderr)
	}
}

// checkInitColumn: --init-image-column takes each sample's init image
// from a column of the prompt file; each sample records its own.
func checkInitColumn(t *testing.T, addr, dir, gray string) {
	white := filepath.Join(dir, "white.png")
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	f, err := os.Create(white)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	prompts := filepath.Join(dir, "prompts.csv")
	if err := os.WriteFile(prompts, []byte("prompt,image\na red fox,"+gray+"\na cat,"+white+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out-col")
	code, _, stderr := sanafarm("submit", "--addr", addr, "--model", "test/tiny-sprint", "--prompts", prompts,
		"--width", "64", "--height", "64", "--init-image-column", "image", "--dest", out, "--wait")
	if code != 0 {
		t.Fatalf("submit --init-image-column exit %d: %s", code, stderr)
	}
	metas, _ := filepath.Glob(filepath.Join(out, "*", "*.json"))
	if len(metas) != 2 {
		t.Fatalf("%d sample .json files under %s", len(metas), out)
	}
	seen := map[string]string{}
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Prompt    string `json:"prompt"`
			InitImage string `json:"init_image"`
			SHA256    string `json:"init_image_sha256"`
		}
		if json.Unmarshal(b, &meta) != nil || len(meta.SHA256) != 64 {
			t.Fatalf("sample provenance %s", b)
		}
		seen[meta.Prompt] = meta.InitImage
	}
	if seen["a red fox"] != gray || seen["a cat"] != white {
		t.Errorf("init images by prompt %v, want the fox on %s and the cat on %s", seen, gray, white)
	}
}

// TestNodeResidentFlag: --resident out of range is refused before the
// node starts, naming the flag.
func TestNodeResidentFlag(t *testing.T) {
	code, _, stderr := sanafarm("node", "--resident", "0", "--nats", "nats://127.0.0.1:1")
	if code == 0 || !strings.Contains(stderr, "--resident 0") {
		t.Errorf("exit %d: %q", code, stderr)
	}
}
