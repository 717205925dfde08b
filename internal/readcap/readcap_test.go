package readcap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadcap(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(p, []byte(strings.Repeat("x", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := File(p, 100); err != nil || len(b) != 100 {
		t.Fatalf("at the bound: %d bytes, %v", len(b), err)
	}
	var tl *TooLarge
	if _, err := File(p, 99); !errors.As(err, &tl) || tl.Size != 100 || !strings.Contains(err.Error(), p+" is 100 bytes, more than the 99") {
		t.Fatalf("past the bound: %v", err)
	}
	if _, err := File(filepath.Join(dir, "none"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	fsys := fstest.MapFS{"config.json": {Data: []byte("{}")}}
	if b, err := FS(fsys, "config.json", 2); err != nil || string(b) != "{}" {
		t.Fatalf("fs: %q %v", b, err)
	}
	if _, err := FS(fsys, "config.json", 1); !errors.As(err, &tl) {
		t.Fatalf("fs past the bound: %v", err)
	}
	// A pipe says no size: the bound is found by reading.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = w.WriteString("abcdef"); w.Close() }()
	defer r.Close()
	if _, err := read(r, "pipe", 3); !errors.As(err, &tl) || tl.Size != -1 || !strings.Contains(err.Error(), "pipe is larger than 3 bytes") {
		t.Fatalf("pipe: %v", err)
	}
}
