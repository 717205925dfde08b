package storage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

func testSample(i int64) Sample {
	return Sample{Index: i, Prompt: fmt.Sprintf("prompt %d", i), PNG: []byte(fmt.Sprintf("png bytes of %d", i)),
		Meta: map[string]any{"seed": i}, Seed: uint64(1000 + i), Width: 32, Height: 32}
}

// writeShard writes samples [start, end) as shard in format.
func writeShard(t *testing.T, s Store, format, prefix string, shard int, start, end int64) ShardStats {
	t.Helper()
	ctx := context.Background()
	w, err := NewShardWriter(s, format, prefix, shard)
	if err != nil {
		t.Fatal(err)
	}
	for i := start; i < end; i++ {
		if err := w.Write(ctx, testSample(i)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Finish(ctx, ShardStats{Job: "j", Start: start, End: end, RequestHash: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func readObject(t *testing.T, s Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebDatasetShard(t *testing.T) {
	// A private temp dir: other packages' tests (run in parallel by go test)
	// spool their own shards into the shared one.
	t.Setenv("TMPDIR", t.TempDir())
	s, dir := newLocal(t)
	st := writeShard(t, s, FormatWebDataset, "out", 3, 192, 195)
	if st.Images != 3 || st.Objects != 3 || st.Format != FormatWebDataset || len(st.Files) != 2 ||
		st.Files[0].Key != "out/00003.tar" || st.Files[1].Key != "out/00003.parquet" || len(st.Samples) != 3 {
		t.Fatalf("stats %+v", st)
	}
	tarBytes := readObject(t, s, "out/00003.tar")
	tr := tar.NewReader(bytes.NewReader(tarBytes))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(tarTime) {
			t.Fatalf("header %+v", h)
		}
		i := int64(192 + len(names)/3)
		switch filepath.Ext(h.Name) {
		case ".png":
			if string(body) != fmt.Sprintf("png bytes of %d", i) || st.Samples[i-192].PNG != sha256Hex(body) {
				t.Fatalf("%s: %q", h.Name, body)
			}
		case ".txt":
			if string(body) != fmt.Sprintf("prompt %d", i) {
				t.Fatalf("%s: %q", h.Name, body)
			}
		case ".json":
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil || m["seed"] != float64(i) {
				t.Fatalf("%s: %s %v", h.Name, body, err)
			}
		}
		names = append(names, h.Name)
	}
	want := "000000192.png 000000192.json 000000192.txt 000000193.png 000000193.json 000000193.txt 000000194.png 000000194.json 000000194.txt"
	if strings.Join(names, " ") != want {
		t.Fatalf("members %v", names)
	}
	// Deterministic: the same samples give byte-identical tars.
	writeShard(t, s, FormatWebDataset, "again", 3, 192, 195)
	if !bytes.Equal(tarBytes, readObject(t, s, "again/00003.tar")) {
		t.Fatal("rewritten shard differs")
	}
	// No temporary spool file is left behind, in the store or outside.
	entries, _ := os.ReadDir(filepath.Join(dir, "out"))
	if len(entries) != 3 { // tar, parquet, stats
		t.Fatalf("out/ holds %d entries", len(entries))
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "sanafarm-shard-00003-*")); len(m) != 0 {
		t.Fatalf("spool files left: %v", m)
	}
}

// noSHA is a store whose Stat records no SHA-256 (objects other tools
// wrote to S3): VerifyShard must download and hash them.
type noSHA struct{ *Local }

func (n noSHA) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := n.Local.Stat(ctx, key)
	info.SHA256 = ""
	return info, err
}

// TestVerifyShard checks both paths: the SHA-256 Stat reports, and
// downloading and hashing when Stat has none.
func TestVerifyShard(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{FormatWebDataset, FormatFiles} {
		t.Run(format, func(t *testing.T) {
			s, dir := newLocal(t)
			writeShard(t, s, format, "p", 0, 0, 4)
			readers := []Reader{s, noSHA{s}}
			check := func(what, want string, shard int, hash string) {
				t.Helper()
				for i, r := range readers {
					_, err := VerifyShard(ctx, r, "p", shard, hash)
					if (want == "") != (err == nil) || want != "" && (!errors.Is(err, ErrShardIncomplete) || !strings.Contains(err.Error(), want)) {
						t.Fatalf("%s (reader %d): %v", what, i, err)
					}
				}
			}
			check("complete", "", 0, "h1")
			check("other request", "request", 0, "other")
			check("missing shard", "no stats", 1, "h1")
			obj := filepath.Join(dir, "p", "00000.tar")
			if format == FormatFiles {
				obj = filepath.Join(dir, "p", "00000", "000000002.png")
			}
			b, _ := os.ReadFile(obj)
			corrupt := bytes.Clone(b)
			corrupt[len(corrupt)/2] ^= 1
			os.WriteFile(obj, corrupt, 0o644)
			check("corrupted", "sha256", 0, "h1")
			os.WriteFile(obj, b[:len(b)-7], 0o644)
			check("truncated", "bytes", 0, "h1")
			os.Remove(obj)
			check("missing object", "missing", 0, "h1")
		})
	}
}

func TestManifest(t *testing.T) {
	ctx := context.Background()
	s, _ := newLocal(t)
	writeShard(t, s, FormatWebDataset, "job", 0, 0, 3)
	writeShard(t, s, FormatWebDataset, "job", 1, 3, 5)
	info, err := WriteManifest(ctx, s, "job", 2)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 5 || info.Shards != 2 {
		t.Fatalf("info %+v", info)
	}
	jsonl := readObject(t, s, "job/manifest.jsonl")
	sc := bufio.NewScanner(bytes.NewReader(jsonl))
	var n int64
	for sc.Scan() {
		var r ManifestRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		checkRow(t, r, n)
		n++
	}
	if n != 5 {
		t.Fatalf("%d jsonl rows", n)
	}
	pq := readObject(t, s, "job/manifest.parquet")
	rows, err := parquet.Read[ManifestRow](bytes.NewReader(pq), int64(len(pq)))
	if err != nil || len(rows) != 5 {
		t.Fatalf("parquet: %d rows, %v", len(rows), err)
	}
	for i, r := range rows {
		checkRow(t, r, int64(i))
	}
	// Idempotent: a rewrite stores the same bytes.
	if _, err := WriteManifest(ctx, s, "job", 2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pq, readObject(t, s, "job/manifest.parquet")) || !bytes.Equal(jsonl, readObject(t, s, "job/manifest.jsonl")) {
		t.Fatal("rewritten manifest differs")
	}
	if done, err := ManifestDone(ctx, s, "job", time.Time{}); !done || err != nil {
		t.Fatalf("done %v %v", done, err)
	}
	if _, err := WriteManifest(ctx, s, "job", 3); err == nil || !strings.Contains(err.Error(), "shard 00002") {
		t.Fatalf("missing shard: %v", err)
	}
}

func checkRow(t *testing.T, r ManifestRow, i int64) {
	t.Helper()
	shard := int32(0)
	if i >= 3 {
		shard = 1
	}
	if r.Index != i || r.Key != SampleKey(i) || r.Shard != shard || r.Prompt != fmt.Sprintf("prompt %d", i) ||
		r.Seed != uint64(1000+i) || r.Object != fmt.Sprintf("job/%05d.tar", shard) || r.Member != SampleKey(i)+".png" ||
		r.PNG != sha256Hex([]byte(fmt.Sprintf("png bytes of %d", i))) || r.Width != 32 || r.Status != StatusOK {
		t.Fatalf("row %d: %+v", i, r)
	}
}
