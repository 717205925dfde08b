package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/storage"
)

// countingReader counts the Gets of each key through a store.
type countingReader struct {
	storage.Reader
	mu   sync.Mutex
	gets map[string]int
}

func (c *countingReader) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets[key]++
	c.mu.Unlock()
	return c.Reader.Get(ctx, key)
}

func (c *countingReader) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gets
	c.gets = map[string]int{}
	return g
}

// TestVerifyShardS3Metadata: on S3, VerifyShard trusts the sha256 the
// store recorded at upload (x-amz-meta-sha256) and downloads no shard
// object; an object another tool wrote (no such metadata) is downloaded
// and hashed, and a wrong recorded sha256 or wrong bytes are caught.
func TestVerifyShardS3Metadata(t *testing.T) {
	srv := s3test.Start(t, testBucket)
	ctx := context.Background()
	s := openS3(t, s3Config(srv), "s3://"+testBucket+"/ds")
	w, err := storage.NewShardWriter(s, storage.FormatWebDataset, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(3) {
		err := w.Write(ctx, storage.Sample{Index: i, Prompt: fmt.Sprint("p", i), PNG: randBytes(4000, byte(i)), Width: 8, Height: 8})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(ctx, storage.ShardStats{Job: "j", End: 3, RequestHash: "h"}); err != nil {
		t.Fatal(err)
	}
	tarKey := storage.TarKey("", 0)
	r := &countingReader{Reader: s, gets: map[string]int{}}
	if _, err := storage.VerifyShard(ctx, r, "", 0, "h"); err != nil {
		t.Fatal(err)
	}
	if g := r.reset(); g[tarKey] != 0 || g[storage.StatsKey("", 0)] != 1 {
		t.Fatalf("verifying with recorded sha256s made gets %v, want only the stats", g)
	}

	tarBytes := get(t, s, tarKey)
	raw := srv.Client()
	rawPut := func(body []byte, meta map[string]string) {
		t.Helper()
		_, err := raw.PutObject(ctx, testBucket, "ds/"+tarKey, bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{UserMetadata: meta})
		if err != nil {
			t.Fatal(err)
		}
	}
	rawPut(tarBytes, nil) // the same bytes, written by another tool
	if st, err := s.Stat(ctx, tarKey); err != nil || st.SHA256 != "" {
		t.Fatalf("stat of a foreign object: %+v %v", st, err)
	}
	if _, err := storage.VerifyShard(ctx, r, "", 0, "h"); err != nil {
		t.Fatalf("foreign object with the right bytes: %v", err)
	}
	if g := r.reset(); g[tarKey] != 1 {
		t.Fatalf("foreign object: gets %v, want the tar downloaded once", g)
	}

	corrupt := bytes.Clone(tarBytes)
	corrupt[len(corrupt)/2] ^= 1
	rawPut(corrupt, nil)
	if _, err := storage.VerifyShard(ctx, r, "", 0, "h"); !errors.Is(err, storage.ErrShardIncomplete) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("foreign corrupt object: %v", err)
	}
	rawPut(tarBytes, map[string]string{storage.MetaSHA256: strings.Repeat("0", 64)})
	r.reset()
	if _, err := storage.VerifyShard(ctx, r, "", 0, "h"); !errors.Is(err, storage.ErrShardIncomplete) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("object with another recorded sha256: %v", err)
	}
	if g := r.reset(); g[tarKey] != 0 {
		t.Fatalf("recorded sha256 mismatch: gets %v, want no download", g)
	}
}
