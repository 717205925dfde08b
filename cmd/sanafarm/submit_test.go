package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSubmitBadPromptLine: a JSONL prompt file whose line 123 is
// malformed fails `sanafarm submit` with exit status 1 (a failed
// operation) and an error naming the file and line, before any request
// reaches the coordinator.
func TestSubmitBadPromptLine(t *testing.T) {
	var requests atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, "no requests expected", http.StatusTeapot)
	}))
	defer api.Close()
	var b strings.Builder
	for line := 1; line <= 200; line++ {
		if line == 123 {
			b.WriteString(`{"prompt": "a red fox", "seed": ` + "\n")
			continue
		}
		fmt.Fprintf(&b, "{\"prompt\": \"prompt %d\", \"id\": \"r%d\"}\n", line, line)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := sanafarm("submit", "--addr", api.URL, "--token", "t", "--model", "sana-tiny",
		"--prompts", bad, "--dest", filepath.Join(dir, "out"))
	if code != 1 {
		t.Fatalf("exit status %d, want 1; stderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "bad.jsonl:123: invalid JSON") {
		t.Fatalf("stderr %q does not name bad.jsonl line 123", stderr)
	}
	if stdout != "" || requests.Load() != 0 {
		t.Fatalf("submitted anyway: stdout %q, %d API requests", stdout, requests.Load())
	}
}
