package storage

import (
	"bytes"
	"context"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/sanafarm/sanafarm/internal/s3test"
)

// TestDeletePrefixAbortsUploads: the multipart uploads a node killed
// mid-upload left open under a job's staging (stored parts, unlisted,
// billed) are aborted with the staging; one outside the prefix is left,
// and a second sweep finds nothing.
func TestDeletePrefixAbortsUploads(t *testing.T) {
	srv := s3test.Start(t, "uploads")
	ctx := context.Background()
	s, err := OpenS3(ctx, "s3://uploads/out", S3Config{Endpoint: srv.Endpoint(), Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Lookup: "path"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	core := minio.Core{Client: s.client}
	open := func(key string) {
		t.Helper()
		id, err := core.NewMultipartUpload(ctx, s.bucket, s.objKey(key), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		part := bytes.Repeat([]byte("x"), 5<<20)
		if _, err := core.PutObjectPart(ctx, s.bucket, s.objKey(key), id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	openUnder := func(prefix string) int {
		n := 0
		for u := range s.client.ListIncompleteUploads(ctx, s.bucket, s.objKey(prefix), true) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			n++
		}
		return n
	}
	staging := JobAttempts("", "j-1") + "/"
	open(staging + "00003/2/00003.tar")
	open(staging + "00007/1/00007.tar")
	open("other/00000.tar")
	if _, err := s.Put(ctx, staging+"00003/2/00003_stats.json", bytes.NewReader([]byte("{}"))); err != nil {
		t.Fatal(err)
	}
	if n := openUnder(staging); n != 2 {
		t.Fatalf("%d uploads open under the staging before, want 2", n)
	}
	if n, err := DeletePrefix(ctx, s, staging); err != nil || n != 1 {
		t.Fatalf("DeletePrefix = %d, %v; want the one object", n, err)
	}
	if n := openUnder(staging); n != 0 {
		t.Errorf("%d uploads still open under the deleted staging", n)
	}
	if n := openUnder("other/"); n != 1 {
		t.Errorf("%d uploads open outside the prefix, want the 1 left alone", n)
	}
	if n, err := s.AbortUploads(ctx, staging); err != nil || n != 0 {
		t.Errorf("a second sweep = %d, %v; want nothing to do", n, err)
	}
}
