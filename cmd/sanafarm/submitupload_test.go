package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestSubmitUploadsPromptFile: a local prompt file too big to inline is
// uploaded to <output>/_inputs/<sha256>.<ext> with its row count and
// index (the fine level beside it), the job names that URL (never the
// local path), the upload reads back equal, and a second submit reuses
// it; a small plain file is still sent inline.
func TestSubmitUploadsPromptFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out := "file://" + filepath.ToSlash(filepath.Join(dir, "out"))
	for _, c := range []struct {
		name, content string
		rows          int64
		inline        bool
	}{
		{"small.txt", "a red fox\n\na cat\n", 2, true},
		{"big.txt", lines(2500, "prompt %d\n"), 2500, false},
		{"extras.jsonl", `{"prompt": "a fox", "seed": 7}` + "\n", 1, false},
		{"big.csv", "prompt,id\n" + lines(1500, "\"fox\n%d\",x\n"), 1500, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			src, err := promptSource(ctx, path, "", out, &log)
			if err != nil {
				t.Fatal(err)
			}
			if c.inline {
				if int64(len(src.Inline)) != c.rows || src.URL != "" {
					t.Fatalf("source %+v, want %d inline prompts", src, c.rows)
				}
				return
			}
			sum := sha256.Sum256([]byte(c.content))
			ext := strings.TrimPrefix(filepath.Ext(c.name), ".")
			want := out + "/" + protocol.InputKey(hex.EncodeToString(sum[:]), ext)
			if src.URL != want || src.Rows != c.rows || src.Index == nil || src.Index.Size != int64(len(c.content)) {
				t.Fatalf("source %+v, want url %s, %d rows and an index", src, want, c.rows)
			}
			fp, _ := storage.LocalPath(src.URL + protocol.FineIndexSuffix)
			if st, err := os.Stat(fp); err != nil || src.Index.Fine != protocol.FineIndexStride ||
				st.Size() != 8*((c.rows+src.Index.Fine-1)/src.Index.Fine) {
				t.Errorf("fine index %s (%v), fine stride %d", fp, err, src.Index.Fine)
			}
			if !protocol.IsUploadedInput(src.URL) {
				t.Errorf("%s is not recognized as an uploaded input", src.URL)
			}
			if !strings.Contains(log.String(), "uploading") {
				t.Errorf("no upload message: %q", log.String())
			}
			rc, err := storage.OpenObject(ctx, src.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if string(got) != c.content {
				t.Fatal("uploaded bytes differ")
			}
			r, _ := storage.NewPromptReader(src)
			last, err := r.ReadRows(ctx, c.rows-1, c.rows)
			plain, _ := storage.NewPromptReader(protocol.PromptSource{URL: path})
			wantLast, _ := plain.ReadRows(ctx, c.rows-1, c.rows)
			if err != nil || !reflect.DeepEqual(last, wantLast) {
				t.Fatalf("last row %v (%v), want %v", last, err, wantLast)
			}
			log.Reset()
			again, err := promptSource(ctx, path, "", out, &log)
			if err != nil || again.URL != want || log.Len() != 0 {
				t.Fatalf("second submit: %+v, %v, log %q: want the upload reused", again, err, log.String())
			}
		})
	}
}

func lines(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}
