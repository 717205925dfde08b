package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/storage"
)

const testBucket = "sanafarm-test"

// s3Config is a store configuration for srv, with small parts so that the
// large-object case goes multipart in several parts.
func s3Config(srv *s3test.Server) storage.S3Config {
	return storage.S3Config{
		Endpoint:  srv.Endpoint(),
		Region:    s3test.Region,
		AccessKey: s3test.AccessKey,
		SecretKey: s3test.SecretKey,
		Lookup:    "path",
		PartSize:  5 << 20,
	}
}

// stores returns every Store implementation, fresh and empty.
func stores(t *testing.T) map[string]func(t *testing.T) storage.Store {
	srv := s3test.Start(t, testBucket)
	n := 0
	return map[string]func(t *testing.T) storage.Store{
		"local": func(t *testing.T) storage.Store {
			s, err := storage.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"s3": func(t *testing.T) storage.Store {
			n++
			u := fmt.Sprintf("s3://%s/run%02d/out/", testBucket, n)
			s, err := storage.OpenS3(context.Background(), u, s3Config(srv))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func TestStoreConformance(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"PutGetStatListDelete", testPutGetStatListDelete},
		{"KeyValidation", testKeyValidation},
		{"Overwrite", testOverwrite},
		{"LargeMultipart", testLargeObject},
		{"Streams", testReaderKinds},
		{"CreateOnce", testCreateOnce},
		{"ListPaging", testListPaging},
	}
	for name, open := range stores(t) {
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) { c.fn(t, open(t)) })
		}
	}
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func put(t *testing.T, s storage.Store, key string, data []byte) storage.ObjectInfo {
	t.Helper()
	info, err := s.PutObject(context.Background(), key, bytes.NewReader(data), storage.PutOptions{})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	if info.Size != int64(len(data)) || info.SHA256 != sum(data) {
		t.Fatalf("put %s: got %d bytes sha256 %s, want %d %s", key, info.Size, info.SHA256, len(data), sum(data))
	}
	return info
}

func get(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return b
}

func keys(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var ks []string
	for o, err := range s.List(context.Background(), prefix) {
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		ks = append(ks, o.Key)
	}
	slices.Sort(ks)
	return ks
}

func testPutGetStatListDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	all := []string{"00001/000000064.png", "00001/000000064.json", "00000_stats.json", "00002/x.txt", "00001b"}
	for _, k := range all {
		put(t, s, k, []byte("data:"+k))
	}
	if got := get(t, s, "00001/000000064.png"); string(got) != "data:00001/000000064.png" {
		t.Fatalf("get: %q", got)
	}
	st, err := s.Stat(ctx, "00000_stats.json")
	if err != nil || st.Size != int64(len("data:00000_stats.json")) || st.SHA256 != sum([]byte("data:00000_stats.json")) || st.Key != "00000_stats.json" {
		t.Fatalf("stat: %+v %v", st, err)
	}
	if time.Since(st.ModTime) > time.Hour || time.Until(st.ModTime) > time.Hour {
		t.Errorf("stat mod time %v", st.ModTime)
	}
	if got := keys(t, s, "00001/"); !slices.Equal(got, []string{"00001/000000064.json", "00001/000000064.png"}) {
		t.Fatalf("list 00001/: %v", got)
	}
	if got := keys(t, s, "0000"); len(got) != 5 {
		t.Fatalf("list 0000: %v", got)
	}
	if got := keys(t, s, ""); len(got) != 5 {
		t.Fatalf("list all: %v", got)
	}
	if got := keys(t, s, "nope/"); len(got) != 0 {
		t.Fatalf("list nope/: %v", got)
	}
	for range 2 { // deleting twice is no error
		if err := s.Delete(ctx, "00002/x.txt"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(ctx, "00002/x.txt"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := s.Stat(ctx, "00002/x.txt"); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "00002/x.txt") {
		t.Fatalf("stat deleted: %v", err)
	}
	if got := keys(t, s, "00002/"); len(got) != 0 {
		t.Fatalf("list after delete: %v", got)
	}
}

func testKeyValidation(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, k := range []string{"", ".", "..", "../x", "a/../b", "/abs", "a//b", "a/", "a\\b", "a/./b", "nul\x00"} {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("get %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("stat %q: %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("delete %q: %v, want ErrInvalidKey", k, err)
		}
	}
	for _, err := range s.List(ctx, "../") {
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("list ../: %v", err)
		}
	}
}

func testOverwrite(t *testing.T, s storage.Store) {
	put(t, s, "k.bin", []byte("first version"))
	put(t, s, "k.bin", []byte("second"))
	if got := get(t, s, "k.bin"); string(got) != "second" {
		t.Fatalf("after overwrite: %q", got)
	}
	if put(t, s, "empty", nil); len(get(t, s, "empty")) != 0 {
		t.Fatal("empty object not empty")
	}
}

// testLargeObject is the case gofakes3 fails: a multipart upload must read
// back byte-identical, with the right size and SHA-256.
func testLargeObject(t *testing.T, s storage.Store) {
	data := make([]byte, 20<<20+12345)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(data)
	put(t, s, "big/00000.tar", data)
	got := get(t, s, "big/00000.tar")
	if len(got) != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (sha256 %s), want %d (%s)", len(got), sum(got), len(data), sum(data))
	}
	st, err := s.Stat(context.Background(), "big/00000.tar")
	if err != nil || st.Size != int64(len(data)) || st.SHA256 != sum(data) {
		t.Fatalf("stat: %+v %v", st, err)
	}
}

// testReaderKinds: non-seekable readers (spooled, also past a part) and a
// LimitedReader over a seekable one store exactly their bytes.
func testReaderKinds(t *testing.T, s storage.Store) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16+3)
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write(data); pw.Close() }()
	if n, err := s.Put(ctx, "pipe.bin", pr); err != nil || n != int64(len(data)) {
		t.Fatalf("put from a pipe: %d %v", n, err)
	}
	if got := get(t, s, "pipe.bin"); !bytes.Equal(got, data) {
		t.Fatalf("pipe: read back %d bytes", len(got))
	}
	br := bytes.NewReader(data)
	_, _ = br.Seek(10, io.SeekStart)
	lr := &io.LimitedReader{R: br, N: 100}
	info, err := s.PutObject(ctx, "limited.bin", lr, storage.PutOptions{})
	if err != nil || info.Size != 100 || info.SHA256 != sum(data[10:110]) {
		t.Fatalf("put limited: %+v %v", info, err)
	}
	if got := get(t, s, "limited.bin"); !bytes.Equal(got, data[10:110]) {
		t.Fatalf("limited: read back %q", got)
	}
	if _, err := s.Put(ctx, "small.txt", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd"))); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "small.txt"); string(got) != "abcd" {
		t.Fatalf("small: %q", got)
	}
}

func testCreateOnce(t *testing.T, s storage.Store) {
	ctx := context.Background()
	once := storage.PutOptions{IfAbsent: true}
	if _, err := s.PutObject(ctx, "00003/_stats.json", strings.NewReader("one"), once); err != nil {
		t.Fatalf("first create: %v", err)
	}
	_, err := s.PutObject(ctx, "00003/_stats.json", strings.NewReader("two"), once)
	if !errors.Is(err, storage.ErrExists) || !strings.Contains(err.Error(), "00003/_stats.json") {
		t.Fatalf("second create: %v, want ErrExists naming the key", err)
	}
	if got := get(t, s, "00003/_stats.json"); string(got) != "one" {
		t.Fatalf("after refused create: %q", got)
	}
}

func testListPaging(t *testing.T, s storage.Store) {
	ctx := context.Background()
	const n = 1100 // more than one ListObjectsV2 page (1000)
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := s.Put(ctx, fmt.Sprintf("page/%05d", i), strings.NewReader("x"))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := keys(t, s, "page/"); len(got) != n {
		t.Fatalf("listed %d objects, want %d", len(got), n)
	}
	seen := 0
	for _, err := range s.List(ctx, "page/") { // breaking off early is fine
		if err != nil {
			t.Fatal(err)
		}
		if seen++; seen == 3 {
			break
		}
	}
}
