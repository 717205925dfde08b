package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestSubmitSpecChecked: flag values the coordinator's spec validation
// refuses are usage errors (exit status 2) naming the flag, found before
// the prompt file is read or any request is sent; values it accepts, a
// prompt file with an image column, and a model no local preset names
// (the coordinator's to judge) go on to the coordinator.
func TestSubmitSpecChecked(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, "refused", http.StatusTeapot)
	}))
	defer srv.Close()
	dir := t.TempDir()
	csv := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(csv, []byte("prompt,img\na fox,in.png\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.txt") // never read when a flag is refused
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-p", "x", "--steps", "-2"}, 2, "--steps -2: want 1.."},
		{[]string{"-p", "x", "--width", "100"}, 2, "--width 100: must be a multiple of 32"},
		{[]string{"-p", "x", "--height", "100000"}, 2, "--height 100000: want 0 (the model's size) or 32.."},
		{[]string{"--prompts", missing, "--steps", "-2", "--guidance", "-1"}, 2, "--steps -2: want 1..1000 (omit it for the model's default); --guidance -1: want a finite number"},
		{[]string{"-p", "x", "--format", "tar"}, 2, "--format tar: want files or webdataset"},
		{[]string{"-p", "x", "--sampler", "ddim"}, 2, "--sampler ddim: want dpm or euler"},
		{[]string{"-p", "x", "--parallel", "tp:99"}, 2, "--parallel tp:99"},
		{[]string{"-p", "x", "--lora", "style.safetensors:1e9"}, 2, "--lora: loras[0].weight = 1e+09: want a finite number"},
		{[]string{"-p", "x", "--pag-layers", "3"}, 2, "--pag-layers [3]: set without pag_scale"},
		{[]string{"-p", "x", "--init-image-column", "img", "--model", "sana-sprint-600m"}, 2, "--init-image-column img: needs a prompt file"},
		{[]string{"--prompts", filepath.Join(dir, "rows.xlsx")}, 2, "--prompts-format xlsx: want txt, jsonl, csv or parquet"},
		{[]string{"-p", "   "}, 2, `--prompt: prompts.inline[0] = "   ": must be non-empty`},
		{[]string{"-p", "x", "--model", "org/repo/extra"}, 2, "--model org/repo/extra: not a Hugging Face repo id"},
		{[]string{"-p", "x", "--timeout", "1 day"}, 2, `--timeout "1 day": want a duration from 1s to 8784h`},
		{[]string{"-p", "x", "--steps", "20", "--width", "512"}, 1, "submitting job"},
		{[]string{"-p", "x", "--timeout", "36h"}, 1, "submitting job"},
		{[]string{"--prompts", csv, "--init-image-column", "img", "--model", "sana-sprint-600m"}, 1, "submitting job"},
		{[]string{"-p", "x", "--model", "sana-from-the-future"}, 1, "submitting job"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			requests.Store(0)
			args := append([]string{"submit", "--addr", srv.URL, "--model", "sana-tiny", "--dest", filepath.Join(dir, "out")}, c.args...)
			code, _, stderr := sanafarm(args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, want %d with %q: %s", code, c.code, c.want, stderr)
			}
			if sent := requests.Load(); (c.code == 2) != (sent == 0) {
				t.Errorf("exit %d after %d requests to the coordinator", code, sent)
			}
		})
	}
}

// TestSpecFlags: every flag specFlags names is a submit flag.
func TestSpecFlags(t *testing.T) {
	cmd := newSubmitCmd()
	cmd.SetOut(io.Discard)
	for field, flag := range specFlags {
		if cmd.Flags().Lookup(strings.TrimPrefix(flag, "--")) == nil {
			t.Errorf("field %s: submit has no flag %s", field, flag)
		}
	}
	if got := flagProblem(protocol.FieldError{Field: "revision", Value: `"x"`, Problem: "bad"}); got != `revision = "x": bad` {
		t.Errorf("a field without a flag: %q", got)
	}
}
