package storage

import (
	"bytes"
	"context"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/sanafarm/sanafarm/internal/s3test"
)

// TestS3ContentType: objects are stored with the media type of their
// extension (they were all application/octet-stream), and a copy — the
// publish step of a fenced write, single-request or multipart — keeps it.
func TestS3ContentType(t *testing.T) {
	srv := s3test.Start(t, "ctype")
	ctx := context.Background()
	s, err := OpenS3(ctx, "s3://ctype/out", S3Config{Endpoint: srv.Endpoint(), Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Lookup: "path", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.copyLimit = 5 << 20
	contentType := func(key string) string {
		t.Helper()
		oi, err := s.client.StatObject(ctx, "ctype", s.objKey(key), minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return oi.ContentType
	}
	for _, c := range []struct {
		key, want string
		size      int
	}{
		{"_attempts/j/00000/1/00000/000000000.png", "image/png", 10},
		{"_attempts/j/00000/1/00000.tar", "application/x-tar", 11 << 20}, // copied part by part
		{"_attempts/j/00000/1/00000_stats.json", "application/json", 10},
		{"_attempts/j/00000/1/00000.parquet", "application/vnd.apache.parquet", 10},
		{"_attempts/j/00000/1/00000/000000000.txt", "text/plain; charset=utf-8", 10},
	} {
		if _, err := s.Put(ctx, c.key, bytes.NewReader(bytes.Repeat([]byte("x"), c.size))); err != nil {
			t.Fatal(err)
		}
		if got := contentType(c.key); got != c.want {
			t.Errorf("%s: stored as %q, want %q", c.key, got, c.want)
		}
		dst := c.key[len("_attempts/j/00000/1/"):]
		if _, err := s.Copy(ctx, c.key, dst); err != nil {
			t.Fatal(err)
		}
		if got := contentType(dst); got != c.want {
			t.Errorf("%s (copied): %q, want %q", dst, got, c.want)
		}
	}
	// An explicit PutOptions.ContentType wins.
	if _, err := s.PutObject(ctx, "a.bin.png", bytes.NewReader([]byte("x")), PutOptions{ContentType: "image/x-test"}); err != nil {
		t.Fatal(err)
	}
	if got := contentType("a.bin.png"); got != "image/x-test" {
		t.Errorf("explicit content type: %q", got)
	}
}
