package hub

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestVerifySnapshot: a weights blob whose bytes changed in the cache
// (same size: the download's own size check cannot see it) is found and
// removed with its link, and the next download fetches it again; a small
// git file (its blob not named by a SHA-256) is left unchecked, a link
// out of the cache is not followed, and an intact snapshot has nothing to
// remove.
func TestVerifySnapshot(t *testing.T) {
	h := newFakeHub(t)
	files := bigRepo()
	h.addCommit("org/big", commitA, files, "main")
	cache := t.TempDir()
	c := newTestClient(t, h, cache, nil)
	ctx := context.Background()
	dir, err := c.Download(ctx, "org/big", "main", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := VerifySnapshot(dir); err != nil || len(removed) != 0 {
		t.Fatalf("intact snapshot: removed %v, %v", removed, err)
	}
	sum := sha256Hex(files["model.safetensors"])
	blob := filepath.Join(cache, "models--org--big", "blobs", sum)
	flip := func(p string) {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flip(blob)
	cfg, err := filepath.EvalSymlinks(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	flip(cfg)
	// A link out of the cache to a digest-named file that does not match
	// it: not this repo's blob, so neither hashed nor removed.
	elsewhere := filepath.Join(t.TempDir(), "blobs", sum)
	if err := os.MkdirAll(filepath.Dir(elsewhere), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(elsewhere, []byte("not the weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, "outside.safetensors")); err != nil {
		t.Fatal(err)
	}
	removed, err := VerifySnapshot(dir)
	if err != nil || !slices.Equal(removed, []string{"model.safetensors"}) {
		t.Fatalf("removed %v, %v; want the corrupted weights only", removed, err)
	}
	for _, p := range []string{blob, filepath.Join(dir, "model.safetensors")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	if _, err := os.Stat(elsewhere); err != nil {
		t.Errorf("a file outside the cache was touched: %v", err)
	}
	dir, err = c.Download(ctx, "org/big", "main", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil || sha256Hex(got) != sum {
		t.Errorf("the removed weights were not fetched again (err %v)", err)
	}
}
