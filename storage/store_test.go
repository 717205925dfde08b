package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newLocal(t *testing.T) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func TestLocalPutGetStatListDelete(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocal(t)
	for _, k := range []string{"00001/000000064.png", "00001/000000064.json", "00000_stats.json", "00002/x.txt"} {
		if _, err := s.Put(ctx, k, strings.NewReader("data:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := s.Get(ctx, "00001/000000064.png")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "data:00001/000000064.png" {
		t.Fatalf("got %q", b)
	}
	if st, err := s.Stat(ctx, "00000_stats.json"); err != nil || st.Size != int64(len("data:00000_stats.json")) {
		t.Fatalf("stat %+v %v", st, err)
	}
	var keys []string
	for o, err := range s.List(ctx, "00001/") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "00001/000000064.json,00001/000000064.png" {
		t.Fatalf("list 00001/: %v", keys)
	}
	if n := count(t, s, "0000"); n != 4 {
		t.Fatalf("list 0000: %d objects", n)
	}
	if n := count(t, s, "nope/"); n != 0 {
		t.Fatalf("list nope/: %d objects", n)
	}
	if err := s.Delete(ctx, "00002/x.txt"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "00002/x.txt"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := s.Get(ctx, "00002/x.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00001", "000000064.png")); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, s Store, prefix string) int {
	t.Helper()
	n := 0
	for _, err := range s.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// failingReader returns some bytes and then an error, like a dropped
// upload stream.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n = 0
		return copy(p, "partial"), nil
	}
	return 0, errors.New("stream broke")
}

func TestLocalPutAtomic(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocal(t)
	if _, err := s.Put(ctx, "a/b.png", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a/b.png", &failingReader{n: 1}); err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
	b, err := os.ReadFile(filepath.Join(dir, "a", "b.png"))
	if err != nil || string(b) != "old" {
		t.Fatalf("after a failed put: %q %v, want the old object", b, err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "a/c.png", bytes.NewReader([]byte("x"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v", err)
	}
	// A temporary file from a crashed writer is not listed.
	os.WriteFile(filepath.Join(dir, "a", tmpPrefix+"b.png-123"), []byte("half"), 0o644)
	if n := count(t, s, "a/"); n != 1 {
		t.Fatalf("listed %d objects, want 1 (temporary files hidden)", n)
	}
}

func TestLocalRejectsTraversal(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocal(t)
	outside := filepath.Join(filepath.Dir(dir), "outside-"+filepath.Base(dir))
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(outside) })
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", ".", "..", "../x", "a/../../x", "/etc/passwd", "a//b", "a/", `a\..\b`, "a/./b", "x\x00y"} {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("get %q: %v, want ErrInvalidKey", k, err)
		}
	}
	if _, err := s.Put(ctx, "link/escape.txt", strings.NewReader("x")); err == nil {
		t.Error("put through a symlink out of the store succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "escape.txt")); err == nil {
		t.Error("a file was written outside the store")
	}
	for _, err := range s.List(ctx, "../") {
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("list ../: %v", err)
		}
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{dir + "/out", "file://" + dir + "/out2", "file://localhost" + dir + "/out3"} {
		s, err := Open(ctx, u)
		if err != nil {
			t.Fatalf("open %s: %v", u, err)
		}
		s.Close()
	}
	cases := map[string]string{
		"s3://b/prefix":      "bucket name",
		"gs://bucket":        "unknown scheme",
		"":                   "empty",
		"file://otherhost/x": "not host",
		"file://":            "no path",
	}
	for u, want := range cases {
		_, err := Open(ctx, u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("open %q: %v, want %q", u, err, want)
		}
	}
	if _, err := LocalPath("s3://bucket/p"); !errors.Is(err, ErrNotSupported) {
		t.Errorf("s3 local path: %v, want ErrNotSupported", err)
	}
	if _, err := OpenObject(ctx, "file://"+dir+"/missing.txt"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("open missing object: %v", err)
	}
}

// TestOpenLoggedWarnsOnRetries: a daemon's store logs each retry of a
// failing S3 endpoint (before, only the metrics saw them).
func TestOpenLoggedWarnsOnRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
	}
	t.Setenv(EnvS3Endpoint, "http://"+addr)
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := OpenLogged(ctx, "s3://bucket/out", slog.New(slog.NewTextHandler(&logs, nil))); err == nil {
		t.Fatal("opened a store on a closed port")
	}
	if !strings.Contains(logs.String(), "s3: retrying") || strings.Contains(logs.String(), "secret") {
		t.Fatalf("logs: %q", logs.String())
	}
}
