package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/sanafarm/sanafarm/model/sana"
)

// generateMeta runs args (a generate command writing one PNG to out) and
// returns that PNG's provenance and its raw parameters text.
func generateMeta(t *testing.T, args []string, out string) (provenance, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	return pngMeta(t, out)
}

// pngMeta reads the provenance in a PNG's parameters chunk.
func pngMeta(t *testing.T, path string) (provenance, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text, err := sana.ReadPNGText(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var meta provenance
	if err := json.Unmarshal([]byte(text["parameters"]), &meta); err != nil {
		t.Fatalf("parameters chunk %q: %v", text["parameters"], err)
	}
	return meta, text["parameters"]
}
