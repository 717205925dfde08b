package storage

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
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

// cancelAtPart is a transport that cancels the put's context when part
// `at` of a multipart upload is sent, as an operator's Ctrl-C or a stall
// would mid-upload; that request fails with the cancellation.
type cancelAtPart struct {
	at     string
	cancel context.CancelFunc
}

func (c cancelAtPart) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == c.at {
		c.cancel()
		return nil, context.Canceled
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestCancelledPutAbortsUpload: a multipart put cancelled after its first
// part leaves no upload open (its parts stored, unlisted, billed), for a
// plain put (minio-go's PutObject) and a create-once one (putCreateOnce):
// the abort is sent under a context of its own, not the cancelled one.
func TestCancelledPutAbortsUpload(t *testing.T) {
	srv := s3test.Start(t, "cancelled")
	for _, ifAbsent := range []bool{false, true} {
		t.Run(fmt.Sprintf("if-absent=%v", ifAbsent), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := OpenS3(ctx, "s3://cancelled/out", S3Config{Endpoint: srv.Endpoint(), Region: s3test.Region,
				AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Lookup: "path", PartSize: 5 << 20, Threads: 1,
				Transport: cancelAtPart{at: "2", cancel: cancel}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			key := fmt.Sprintf("big-%v.bin", ifAbsent)
			body := bytes.Repeat([]byte("y"), 3*(5<<20)+1)
			if _, err := s.PutObject(ctx, key, bytes.NewReader(body), PutOptions{IfAbsent: ifAbsent}); err == nil {
				t.Fatal("a put cancelled at its second part succeeded")
			}
			bg := context.Background()
			n := 0
			for u := range s.client.ListIncompleteUploads(bg, s.bucket, s.objKey(key), true) {
				if u.Err != nil {
					t.Fatal(u.Err)
				}
				n++
			}
			if n != 0 {
				t.Errorf("%d uploads left open by the cancelled put", n)
			}
		})
	}
}

// TestManifestSweepsUploads: writing a manifest aborts the uploads of its
// two files that a writer killed mid-upload left open, and only those:
// one of a key the manifest's name is a prefix of stays.
func TestManifestSweepsUploads(t *testing.T) {
	srv := s3test.Start(t, "manifest-uploads")
	ctx := context.Background()
	s, err := OpenS3(ctx, "s3://manifest-uploads/out", S3Config{Endpoint: srv.Endpoint(), Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Lookup: "path"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	core := minio.Core{Client: s.client}
	for _, key := range []string{ManifestJSONL, ManifestParquet, ManifestJSONL + ".mine"} {
		if _, err := core.NewMultipartUpload(ctx, s.bucket, s.objKey(key), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := WriteManifest(ctx, s, "", 0)
	if err != nil || info.Aborted != 2 || info.SweepErr != nil {
		t.Fatalf("WriteManifest = %+v, %v; want the 2 manifest uploads aborted", info, err)
	}
	var left []string
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, s.objKey(""), true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		left = append(left, u.Key)
	}
	if len(left) != 1 || left[0] != s.objKey(ManifestJSONL+".mine") {
		t.Errorf("uploads left open %q, want only the one of %s.mine", left, ManifestJSONL)
	}
}
