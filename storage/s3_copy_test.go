package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/sanafarm/sanafarm/internal/s3test"
)

// TestS3CopyMultipart: an object above the single-request copy limit is
// copied part by part (UploadPartCopy) and keeps its recorded SHA-256,
// which a multipart copy does not carry over by itself.
func TestS3CopyMultipart(t *testing.T) {
	srv := s3test.Start(t, "copy")
	ctx := context.Background()
	s, err := OpenS3(ctx, "s3://copy/out", S3Config{Endpoint: srv.Endpoint(), Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Lookup: "path", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.copyLimit = 5 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16+3)
	if _, err := s.PutObject(ctx, "src.tar", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	info, err := s.Copy(ctx, "src.tar", "dst.tar")
	if err != nil || info.Size != int64(len(data)) || info.SHA256 != want {
		t.Fatalf("copy: %+v %v", info, err)
	}
	st, err := s.Stat(ctx, "dst.tar")
	if err != nil || st.SHA256 != want || st.Size != int64(len(data)) {
		t.Fatalf("stat of the copy: %+v %v", st, err)
	}
	rc, err := s.Get(ctx, "dst.tar")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copied bytes differ (%d of %d bytes): %v", len(got), len(data), err)
	}
}
