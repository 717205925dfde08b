package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	good := map[string]URL{
		"hf://Efficient-Large-Model/Sana_1600M_1024px/checkpoints/Sana_1600M_1024px.pth": {
			Repo: "Efficient-Large-Model/Sana_1600M_1024px", Path: "checkpoints/Sana_1600M_1024px.pth"},
		"hf://org/name@v1.0/a.pth": {Repo: "org/name", Revision: "v1.0", Path: "a.pth"},
	}
	for s, want := range good {
		u, err := ParseURL(s)
		if err != nil || u != want || u.String() != s {
			t.Errorf("%s → %+v %v (string %s), want %+v", s, u, err, u.String(), want)
		}
	}
	bad := map[string]string{
		"Efficient-Large-Model/x/a.pth": "want hf://",
		"hf://org/name":                 "want hf://",
		"hf://org/name/":                "want hf://",
		"hf://org/name/../../etc/pwd":   "invalid file path",
		"hf://org/name/a//b.pth":        "invalid file path",
		"hf://o rg/name/a.pth":          "o rg/name",
	}
	for s, want := range bad {
		if _, err := ParseURL(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", s, err, want)
		}
	}
	if !IsURL("hf://a/b/c") || IsURL("/tmp/x.pth") {
		t.Error("IsURL")
	}
}

// TestDownloadURL fetches exactly the named file of a repo, reports its
// LFS sha256, finds it offline afterwards and names a missing file.
func TestDownloadURL(t *testing.T) {
	h := newFakeHub(t)
	const repo = "Efficient-Large-Model/Sana_1600M_1024px"
	ckpt := blobOf("ckpt", 50_000)
	h.addCommit(repo, commitA, map[string][]byte{
		"checkpoints/Sana_1600M_1024px.pth": ckpt,
		"other/big.safetensors":             blobOf("other", 80_000),
		"README.md":                         []byte("# readme"),
	}, "main")
	cache := t.TempDir()
	ctx := context.Background()
	c := newTestClient(t, h, cache, nil)
	url := "hf://" + repo + "/checkpoints/Sana_1600M_1024px.pth"
	local, f, err := c.DownloadURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(local); err != nil || !bytes.Equal(b, ckpt) {
		t.Fatalf("local file %s: %v", local, err)
	}
	if f.SHA256 != sha256Hex(ckpt) || f.Path != "checkpoints/Sana_1600M_1024px.pth" {
		t.Errorf("file entry %+v", f)
	}
	if n := h.count("GET", "/cdn/"); n != 1 {
		t.Errorf("%d CDN GETs, want 1 (only the named file)", n)
	}
	off := newTestClient(t, h, cache, func(c *Config) { c.Offline = true })
	if l2, _, err := off.DownloadURL(ctx, url); err != nil || l2 != local {
		t.Errorf("offline: %s %v, want %s", l2, err, local)
	}
	_, _, err = c.DownloadURL(ctx, "hf://"+repo+"/checkpoints/missing.pth")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "checkpoints/missing.pth") {
		t.Errorf("missing file: %v", err)
	}
}
