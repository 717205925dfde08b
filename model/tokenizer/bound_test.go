package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadBound: a tokenizer.json past MaxFileBytes (a sparse file here)
// is refused with its size, before it is read.
func TestLoadBound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokenizer.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "tokenizer.json is 268435457 bytes") {
		t.Fatalf("err = %v", err)
	}
}
