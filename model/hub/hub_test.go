package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testRepo = "Efficient-Large-Model/Sana_Tiny_diffusers"
	commitA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// blobOf makes deterministic file content of n bytes.
func blobOf(name string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(len(name)*31 + i*7 + int(name[i%len(name)]))
	}
	return b
}

func shardIndex(shards ...string) []byte {
	var b strings.Builder
	b.WriteString(`{"metadata": {"total_size": 1}, "weight_map": {`)
	for i, s := range shards {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"layer.%d.weight": %q, "layer.%d.bias": %q`, i, s, i, s)
	}
	b.WriteString("}}")
	return []byte(b.String())
}

// pipelineRepo is a diffusers repo shaped like Sana's, with variants,
// sharded text encoder weights and files a pipeline must not fetch.
func pipelineRepo(tag string) map[string][]byte {
	f := map[string][]byte{
		".gitattributes":                  []byte("*.safetensors filter=lfs\n"),
		"README.md":                       []byte("# tiny " + tag),
		"model_index.json":                []byte(`{"_class_name": "SanaPipeline", "_diffusers_version": "0.32.0", "scheduler": ["diffusers", "DPMSolverMultistepScheduler"], "text_encoder": ["transformers", "Gemma2Model"], "tokenizer": ["transformers", "GemmaTokenizerFast"], "transformer": ["diffusers", "SanaTransformer2DModel"], "vae": ["diffusers", "AutoencoderDC"], "safety_checker": [null, null], "requires_safety_checker": false}`),
		"scheduler/scheduler_config.json": []byte(`{"num_train_timesteps": 1000}`),
		"transformer/config.json":         []byte(`{"_class_name": "SanaTransformer2DModel", "tag": "` + tag + `"}`),
		"transformer/diffusion_pytorch_model.safetensors":      blobOf("tr"+tag, 300_000),
		"transformer/diffusion_pytorch_model.bf16.safetensors": blobOf("trbf"+tag, 150_000),
		"transformer/diffusion_pytorch_model.bin":              blobOf("trbin", 1000),
		"vae/config.json":                                    []byte(`{"_class_name": "AutoencoderDC"}`),
		"vae/diffusion_pytorch_model.safetensors":            blobOf("vae"+tag, 70_000),
		"text_encoder/config.json":                           []byte(`{"model_type": "gemma2"}`),
		"text_encoder/model.safetensors.index.json":          shardIndex("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"),
		"text_encoder/model-00001-of-00002.safetensors":      blobOf("te1", 40_000),
		"text_encoder/model-00002-of-00002.safetensors":      blobOf("te2", 30_000),
		"text_encoder/model.safetensors.index.bf16.json":     shardIndex("model.bf16-00001-of-00002.safetensors", "model.bf16-00002-of-00002.safetensors"),
		"text_encoder/model.bf16-00001-of-00002.safetensors": blobOf("tebf1", 20_000),
		"text_encoder/model.bf16-00002-of-00002.safetensors": blobOf("tebf2", 15_000),
		"tokenizer/tokenizer.json":                           []byte(`{"version": "1.0"}`),
		"tokenizer/tokenizer_config.json":                    []byte(`{"model_max_length": 300}`),
		"tokenizer/special_tokens_map.json":                  []byte(`{"bos_token": "<bos>"}`),
		"tokenizer/tokenizer.model":                          blobOf("spm", 500),
	}
	return f
}

// defaultFiles is what a pipeline without a variant needs from pipelineRepo.
var defaultFiles = []string{
	"model_index.json",
	"scheduler/scheduler_config.json",
	"text_encoder/config.json",
	"text_encoder/model-00001-of-00002.safetensors",
	"text_encoder/model-00002-of-00002.safetensors",
	"text_encoder/model.safetensors.index.json",
	"tokenizer/special_tokens_map.json",
	"tokenizer/tokenizer.json",
	"tokenizer/tokenizer.model",
	"tokenizer/tokenizer_config.json",
	"transformer/config.json",
	"transformer/diffusion_pytorch_model.safetensors",
	"vae/config.json",
	"vae/diffusion_pytorch_model.safetensors",
}

func newTestClient(t *testing.T, h *fakeHub, cache string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Endpoint: h.srv.URL, CacheDir: cache, RetryWait: time.Millisecond, HTTPClient: h.srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func repoDir(cache string) string {
	return filepath.Join(cache, "models--Efficient-Large-Model--Sana_Tiny_diffusers")
}

// checkSnapshot checks that snapshot holds exactly want, each a relative
// symlink to ../../blobs/{etag} with the repo's content, the way
// huggingface_hub lays it out.
func checkSnapshot(t *testing.T, cache, commit string, files map[string][]byte, want []string) {
	t.Helper()
	snap := filepath.Join(repoDir(cache), "snapshots", commit)
	var got []string
	err := filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(snap, p)
		rel = filepath.ToSlash(rel)
		got = append(got, rel)
		target, err := os.Readlink(p)
		if err != nil {
			t.Errorf("%s is not a symlink: %v", rel, err)
			return nil
		}
		etag := gitBlobSHA(files[rel])
		if isLFS(rel) {
			etag = sha256Hex(files[rel])
		}
		depth := strings.Count(rel, "/")
		wantTarget := strings.Repeat("../", depth+2) + "blobs/" + etag
		if target != wantTarget {
			t.Errorf("%s -> %s, want %s", rel, target, wantTarget)
		}
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, files[rel]) {
			t.Errorf("%s: content differs (err %v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("snapshot files:\n got %v\nwant %v", got, want)
	}
	leftovers, _ := filepath.Glob(filepath.Join(repoDir(cache), "blobs", "*.incomplete"))
	if len(leftovers) > 0 {
		t.Errorf("incomplete blobs left: %v", leftovers)
	}
}

func readRefFile(t *testing.T, cache, ref string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoDir(cache), "refs", ref))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDownloadLayoutAndReuse(t *testing.T) {
	h := newFakeHub(t)
	files := pipelineRepo("a")
	h.addCommit(testRepo, commitA, files, "main")
	cache := t.TempDir()
	ctx := context.Background()
	c := newTestClient(t, h, cache, nil)

	dir, err := c.Download(ctx, testRepo, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(repoDir(cache), "snapshots", commitA); dir != want {
		t.Fatalf("snapshot dir %s, want %s", dir, want)
	}
	checkSnapshot(t, cache, commitA, files, defaultFiles)
	if ref := readRefFile(t, cache, "main"); ref != commitA {
		t.Errorf("refs/main = %q, want %q (no newline)", ref, commitA)
	}
	if n := h.count("GET", "/cdn/"); n != 4 {
		t.Errorf("first run: %d CDN GETs, want 4 (one per LFS file)", n)
	}

	before := len(h.requests())
	if _, err := c.Download(ctx, testRepo, "main", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.requests()[before:] {
		if !strings.HasPrefix(r.path, "/api/") {
			t.Errorf("second run made a file request: %s %s", r.method, r.path)
		}
	}
}

func TestPlan(t *testing.T) {
	h := newFakeHub(t)
	files := pipelineRepo("a")
	h.addCommit(testRepo, commitA, files, "main")
	bf16 := []string{
		"model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
		"text_encoder/model.bf16-00001-of-00002.safetensors", "text_encoder/model.bf16-00002-of-00002.safetensors",
		"text_encoder/model.safetensors.index.bf16.json",
		"tokenizer/special_tokens_map.json", "tokenizer/tokenizer.json", "tokenizer/tokenizer.model", "tokenizer/tokenizer_config.json",
		"transformer/config.json", "transformer/diffusion_pytorch_model.bf16.safetensors",
		"vae/config.json", "vae/diffusion_pytorch_model.safetensors",
	}
	cases := []struct {
		name string
		opts Options
		want []string
	}{
		{"default", Options{}, defaultFiles},
		{"bf16 variant with vae fallback", Options{Variant: "bf16"}, bf16},
		{"missing variant falls back", Options{Variant: "fp16"}, defaultFiles},
		{"components", Options{Components: []string{"vae", "scheduler"}}, []string{
			"model_index.json", "scheduler/scheduler_config.json", "vae/config.json", "vae/diffusion_pytorch_model.safetensors"}},
	}
	c := newTestClient(t, h, t.TempDir(), nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := c.Plan(context.Background(), testRepo, "main", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range plan {
				got = append(got, f.Path)
				if f.Size != int64(len(files[f.Path])) {
					t.Errorf("%s: size %d, want %d", f.Path, f.Size, len(files[f.Path]))
				}
				if isLFS(f.Path) != (f.SHA256 != "") {
					t.Errorf("%s: sha256 %q for LFS=%v", f.Path, f.SHA256, isLFS(f.Path))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
	if _, err := c.Plan(context.Background(), testRepo, "main", Options{Components: []string{"unet"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown component: err %v, want ErrNotFound", err)
	}
}

func TestDownloadVariantSharded(t *testing.T) {
	h := newFakeHub(t)
	files := pipelineRepo("a")
	h.addCommit(testRepo, commitA, files, "main")
	cache := t.TempDir()
	c := newTestClient(t, h, cache, nil)
	if _, err := c.Download(context.Background(), testRepo, "main", Options{Variant: "bf16", Components: []string{"text_encoder"}}); err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, cache, commitA, files, []string{
		"model_index.json", "text_encoder/config.json",
		"text_encoder/model.bf16-00001-of-00002.safetensors", "text_encoder/model.bf16-00002-of-00002.safetensors",
		"text_encoder/model.safetensors.index.bf16.json",
	})
}

func TestRevisionPinning(t *testing.T) {
	h := newFakeHub(t)
	filesA, filesB := pipelineRepo("a"), pipelineRepo("b")
	h.addCommit(testRepo, commitA, filesA, "v1.0")
	h.addCommit(testRepo, commitB, filesB, "main")
	opts := Options{Components: []string{"transformer"}}
	want := []string{"model_index.json", "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors"}
	cases := []struct {
		rev, commit string
		files       map[string][]byte
		ref         string // ref file expected, "" for none
	}{
		{commitA, commitA, filesA, ""},
		{"v1.0", commitA, filesA, "v1.0"},
		{"main", commitB, filesB, "main"},
	}
	for _, tc := range cases {
		t.Run(tc.rev, func(t *testing.T) {
			cache := t.TempDir()
			c := newTestClient(t, h, cache, nil)
			dir, err := c.Download(context.Background(), testRepo, tc.rev, opts)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(dir) != tc.commit {
				t.Errorf("snapshot %s, want commit %s", dir, tc.commit)
			}
			checkSnapshot(t, cache, tc.commit, tc.files, want)
			refs, _ := filepath.Glob(filepath.Join(repoDir(cache), "refs", "*"))
			if tc.ref == "" && len(refs) != 0 {
				t.Errorf("pinned commit wrote refs %v", refs)
			}
			if tc.ref != "" && readRefFile(t, cache, tc.ref) != tc.commit {
				t.Errorf("refs/%s does not hold %s", tc.ref, tc.commit)
			}
		})
	}
	c := newTestClient(t, h, t.TempDir(), nil)
	_, err := c.Download(context.Background(), testRepo, "no-such-branch", opts)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no-such-branch") {
		t.Errorf("unknown revision: %v", err)
	}
}

// writePythonCache lays files out the way huggingface_hub writes them:
// blobs named by etag, relative symlinks, refs/main without newline.
func writePythonCache(t *testing.T, cache, commit string, files map[string][]byte, paths []string) {
	t.Helper()
	root := repoDir(cache)
	for _, p := range paths {
		etag := gitBlobSHA(files[p])
		if isLFS(p) {
			etag = sha256Hex(files[p])
		}
		blob := filepath.Join(root, "blobs", etag)
		ptr := filepath.Join(root, "snapshots", commit, filepath.FromSlash(p))
		rel, _ := filepath.Rel(filepath.Dir(ptr), blob)
		for _, err := range []error{
			os.MkdirAll(filepath.Dir(blob), 0o755), os.WriteFile(blob, files[p], 0o644),
			os.MkdirAll(filepath.Dir(ptr), 0o755), os.Symlink(rel, ptr),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPythonCacheReused(t *testing.T) {
	h := newFakeHub(t)
	files := pipelineRepo("a")
	h.addCommit(testRepo, commitA, files, "main")
	cache := t.TempDir()
	writePythonCache(t, cache, commitA, files, defaultFiles)
	c := newTestClient(t, h, cache, nil)
	if _, err := c.Download(context.Background(), testRepo, "main", Options{}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.requests()) - h.count("GET", "/api/"); n != 0 {
		t.Errorf("%d file requests against a full Python cache, want 0: %v", n, h.requests())
	}
	checkSnapshot(t, cache, commitA, files, defaultFiles)

	// A blob Python fetched for another commit is linked, not downloaded.
	h.addCommit(testRepo, commitB, files, "main")
	if _, err := c.Download(context.Background(), testRepo, "main", Options{}); err != nil {
		t.Fatal(err)
	}
	if n := h.count("GET", "/"); n != h.count("GET", "/api/") {
		t.Errorf("new commit with known blobs made %d GETs for files", n-h.count("GET", "/api/"))
	}
	checkSnapshot(t, cache, commitB, files, defaultFiles)
}

func TestOffline(t *testing.T) {
	h := newFakeHub(t)
	files := pipelineRepo("a")
	cases := []struct {
		name    string
		rev     string
		prepare func(cache string)
		wantErr []string // substrings; nil means success
	}{
		{"full cache by ref", "main", func(string) {}, nil},
		{"full cache by commit", commitA, func(string) {}, nil},
		{"unknown ref", "dev", func(string) {}, []string{testRepo, "dev", "not in the cache"}},
		{"missing shard", "main", func(cache string) {
			_ = os.Remove(filepath.Join(repoDir(cache), "snapshots", commitA, "text_encoder", "model-00002-of-00002.safetensors"))
		}, []string{testRepo, "main", "text_encoder/model-00002-of-00002.safetensors", "HF_HUB_OFFLINE"}},
		{"missing weights", "main", func(cache string) {
			_ = os.Remove(filepath.Join(repoDir(cache), "snapshots", commitA, "vae", "diffusion_pytorch_model.safetensors"))
		}, []string{testRepo, "main", `"vae"`, "weights", "HF_HUB_OFFLINE"}},
		{"dangling link", "main", func(cache string) {
			_ = os.Remove(filepath.Join(repoDir(cache), "blobs", gitBlobSHA(files["transformer/config.json"])))
		}, []string{testRepo, "main", `"transformer"`, "HF_HUB_OFFLINE"}},
		{"missing model_index", "main", func(cache string) {
			_ = os.Remove(filepath.Join(repoDir(cache), "snapshots", commitA, "model_index.json"))
		}, []string{testRepo, "main", "model_index.json", "HF_HUB_OFFLINE"}},
		{"empty cache", "main", func(cache string) { _ = os.RemoveAll(repoDir(cache)) }, []string{testRepo, "main", "HF_HUB_OFFLINE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			writePythonCache(t, cache, commitA, files, defaultFiles)
			tc.prepare(cache)
			before := len(h.requests())
			c := newTestClient(t, h, cache, func(cfg *Config) { cfg.Offline = true })
			dir, err := c.Download(context.Background(), testRepo, tc.rev, Options{})
			if n := len(h.requests()) - before; n != 0 {
				t.Errorf("offline mode made %d requests", n)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Base(dir) != commitA {
					t.Errorf("snapshot %s", dir)
				}
				return
			}
			if err == nil {
				t.Fatal("offline download of a missing file succeeded")
			}
			t.Logf("error: %v", err)
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// bigRepo is a non-diffusers repo with one large LFS file.
func bigRepo() map[string][]byte {
	return map[string][]byte{
		"config.json":       []byte(`{"model_type": "x"}`),
		"model.safetensors": blobOf("big", 1<<20+12345),
	}
}

func TestResumeInterrupted(t *testing.T) {
	cases := []struct {
		name        string
		ignoreRange bool
		wantRange   bool
	}{
		{"server honours Range", false, true},
		{"server ignores Range", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t)
			files := bigRepo()
			h.addCommit("org/big", commitA, files, "main")
			sum := sha256Hex(files["model.safetensors"])
			h.cutAfter[sum] = 600_000
			h.ignoreRange = tc.ignoreRange
			cache := t.TempDir()
			prog := &fakeProgress{}
			c := newTestClient(t, h, cache, func(cfg *Config) { cfg.Progress = prog })
			dir, err := c.Download(context.Background(), "org/big", "main", Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
			if err != nil || sha256Hex(got) != sum {
				t.Fatalf("resumed file: sha %s, want %s (err %v)", sha256Hex(got), sum, err)
			}
			var ranges []string
			for _, r := range h.requests() {
				if strings.HasPrefix(r.path, "/cdn/") {
					ranges = append(ranges, r.rangeHdr)
				}
			}
			want := []string{"", "bytes=600000-"}
			if !slices.Equal(ranges, want) {
				t.Errorf("CDN requests' Range headers %q, want %q", ranges, want)
			}
			if total := prog.total(); total != int64(len(files["model.safetensors"])+len(files["config.json"])) {
				t.Errorf("progress counted %d bytes", total)
			}
		})
	}
}

func TestResumeLeftoverIncomplete(t *testing.T) {
	h := newFakeHub(t)
	files := bigRepo()
	h.addCommit("org/big", commitA, files, "main")
	cache := t.TempDir()
	leaveIncomplete(t, cache, "models--org--big", files["model.safetensors"], 1000)
	c := newTestClient(t, h, cache, nil)
	if _, err := c.Download(context.Background(), "org/big", "main", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.requests() {
		if strings.HasPrefix(r.path, "/cdn/") && r.rangeHdr != "bytes=1000-" {
			t.Errorf("CDN request with Range %q, want bytes=1000-", r.rangeHdr)
		}
	}
}

// leaveIncomplete writes the first n bytes of blob as an interrupted
// download of it would leave them in the repo folder of cache.
func leaveIncomplete(t *testing.T, cache, folder string, blob []byte, n int) {
	t.Helper()
	blobs := filepath.Join(cache, folder, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blobs, sha256Hex(blob)+".incomplete"), blob[:n], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptDownloadRejected(t *testing.T) {
	h := newFakeHub(t)
	files := bigRepo()
	h.addCommit("org/big", commitA, files, "main")
	sum := sha256Hex(files["model.safetensors"])
	h.corrupt[sum] = true
	cache := t.TempDir()
	c := newTestClient(t, h, cache, nil)
	_, err := c.Download(context.Background(), "org/big", "main", Options{})
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("corrupt download: err %v, want ErrIntegrity naming the file", err)
	}
	blobs := filepath.Join(cache, "models--org--big", "blobs")
	for _, name := range []string{sum, sum + ".incomplete"} {
		if _, err := os.Stat(filepath.Join(blobs, name)); err == nil {
			t.Errorf("corrupt data left at blobs/%s", name)
		}
	}
	if _, err := os.Lstat(filepath.Join(cache, "models--org--big", "snapshots", commitA, "model.safetensors")); err == nil {
		t.Error("snapshot links a corrupt blob")
	}
}

func TestAuthErrors(t *testing.T) {
	h := newFakeHub(t)
	h.addCommit("org/gated", commitA, bigRepo(), "main")
	h.token = "hf_secret"
	cases := []struct {
		name, token string
		wantErr     error
		wantText    []string
	}{
		{"no token", "", ErrUnauthorized, []string{"org/gated", "set HF_TOKEN"}},
		{"wrong token", "hf_wrong", ErrUnauthorized, []string{"org/gated", "HF_TOKEN"}},
		{"right token", "hf_secret", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, h, t.TempDir(), func(cfg *Config) { cfg.Token = tc.token })
			_, err := c.Download(context.Background(), "org/gated", "main", Options{})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	h := newFakeHub(t)
	files := bigRepo()
	h.addCommit("org/big", commitA, files, "main")
	c := newTestClient(t, h, t.TempDir(), nil)
	_, err := c.Download(context.Background(), "org/nope", "main", Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "org/nope") {
		t.Errorf("missing repo: %v", err)
	}
	// A file the listing names but the resolve endpoint does not have.
	p := &plan{repo: "org/big", rev: "main", commit: commitA, rc: c.repoCache("org/big")}
	err = c.ensureFile(context.Background(), p, File{Path: "missing.json", Size: -1}, nil)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "missing.json") || !strings.Contains(err.Error(), "org/big") {
		t.Errorf("missing file: %v", err)
	}
}

func TestRetryOn5xx(t *testing.T) {
	h := newFakeHub(t)
	h.addCommit("org/big", commitA, bigRepo(), "main")
	h.fail["/api/"] = 2
	h.fail["/cdn/"] = 1
	c := newTestClient(t, h, t.TempDir(), nil)
	if _, err := c.Download(context.Background(), "org/big", "main", Options{}); err != nil {
		t.Fatalf("download with transient 503s: %v", err)
	}
	h.fail["/api/"] = 10
	c = newTestClient(t, h, t.TempDir(), func(cfg *Config) { cfg.MaxRetries = 2 })
	if _, err := c.Download(context.Background(), "org/big", "main", Options{}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("persistent 503: err %v", err)
	}
}

func TestConcurrentDownloads(t *testing.T) {
	h := newFakeHub(t)
	files := pipelineRepo("a")
	h.addCommit(testRepo, commitA, files, "main")
	h.cdnDelay = 20 * time.Millisecond
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		c := newTestClient(t, h, cache, nil) // separate clients share one cache, like separate processes
		wg.Go(func() {
			_, errs[i] = c.Download(context.Background(), testRepo, "main", Options{Concurrency: 2})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, cache, commitA, files, defaultFiles)
	got := map[string]int{}
	for _, r := range h.requests() {
		if strings.HasPrefix(r.path, "/cdn/") {
			got[r.path]++
		}
	}
	for p, n := range got {
		if n != 1 {
			t.Errorf("%s downloaded %d times, want once", p, n)
		}
	}
	if m := h.maxInFlight.Load(); m > 6 || m < 2 {
		t.Errorf("max CDN downloads in flight %d, want 2..6 (3 clients x 2)", m)
	}
}

// fakeProgress records what a Progress is told.
type fakeProgress struct {
	mu      sync.Mutex
	started int64
	added   map[string]int64
	done    []string
}

func (p *fakeProgress) Start(_ int, bytes int64) { p.started = bytes }
func (p *fakeProgress) Add(file string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.added == nil {
		p.added = map[string]int64{}
	}
	p.added[file] += n
}
func (p *fakeProgress) FileDone(file string, _ error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, file)
}
func (p *fakeProgress) Done() {}

func (p *fakeProgress) total() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var t int64
	for _, n := range p.added {
		t += n
	}
	return t
}

func TestBarProgress(t *testing.T) {
	var buf bytes.Buffer
	b := NewBar(&buf)
	b.Start(2, 1000)
	b.Add("a", 600)
	b.FileDone("a", nil)
	b.Add("b", 400)
	b.FileDone("b", nil)
	b.Done()
	if !strings.Contains(buf.String(), "2/2 files") {
		t.Errorf("bar output %q lacks the file count", buf.String())
	}
}

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		file string // contents of the token file
		want Config
	}{
		{"defaults", map[string]string{"HOME": "/home/u"}, "",
			Config{Endpoint: DefaultEndpoint, CacheDir: "/home/u/.cache/huggingface/hub"}},
		{"xdg", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/x"}, "",
			Config{Endpoint: DefaultEndpoint, CacheDir: "/x/huggingface/hub"}},
		{"hf_home and token file", map[string]string{"HF_HOME": "/hf"}, "hf_file\n",
			Config{Endpoint: DefaultEndpoint, CacheDir: "/hf/hub", Token: "hf_file"}},
		{"everything", map[string]string{"HF_HOME": "/hf", "HF_HUB_CACHE": "/c", "HF_TOKEN": "hf_env",
			"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://mirror:8080/"}, "hf_file",
			Config{Endpoint: "http://mirror:8080", CacheDir: "/c", Token: "hf_env", Offline: true}},
		{"offline words", map[string]string{"HOME": "/h", "HF_HUB_OFFLINE": "true"}, "",
			Config{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub", Offline: true}},
		{"offline zero", map[string]string{"HOME": "/h", "HF_HUB_OFFLINE": "0"}, "",
			Config{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			readFile := func(string) ([]byte, error) {
				if tc.file == "" {
					return nil, fs.ErrNotExist
				}
				return []byte(tc.file), nil
			}
			got := configFromEnv(func(k string) string { return tc.env[k] }, readFile)
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNewRejectsBadEndpoint(t *testing.T) {
	for _, ep := range []string{"ftp://x", "not a url", "http://"} {
		if _, err := New(Config{Endpoint: ep, CacheDir: t.TempDir()}); err == nil {
			t.Errorf("New accepted endpoint %q", ep)
		}
	}
}

func TestTruncatedBlobRepaired(t *testing.T) {
	h := newFakeHub(t)
	files := bigRepo()
	h.addCommit("org/big", commitA, files, "main")
	cache := t.TempDir()
	c := newTestClient(t, h, cache, nil)
	if _, err := c.Download(context.Background(), "org/big", "main", Options{}); err != nil {
		t.Fatal(err)
	}
	sum := sha256Hex(files["model.safetensors"])
	blob := filepath.Join(cache, "models--org--big", "blobs", sum)
	if err := os.Truncate(blob, 100); err != nil {
		t.Fatal(err)
	}
	dir, err := c.Download(context.Background(), "org/big", "main", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil || sha256Hex(got) != sum {
		t.Errorf("truncated blob not repaired (err %v)", err)
	}
}
