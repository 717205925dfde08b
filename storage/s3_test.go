package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/storage"
)

func randBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func openS3(t *testing.T, cfg storage.S3Config, url string) *storage.S3 {
	t.Helper()
	s, err := storage.OpenS3(context.Background(), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestS3Layout: keys land under the prefix, the SHA-256 is recorded as
// x-amz-meta-sha256, a large object is a real multipart upload, and a
// create-once multipart upload is refused on a taken key.
func TestS3Layout(t *testing.T) {
	srv := s3test.Start(t, testBucket)
	ctx := context.Background()
	s := openS3(t, s3Config(srv), "s3://"+testBucket+"/jobs/j1")
	data := randBytes(12<<20, 1)
	put(t, s, "00000.tar", data)
	raw, err := srv.Client().StatObject(ctx, testBucket, "jobs/j1/00000.tar", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Metadata.Get("X-Amz-Meta-Sha256"); got != sum(data) {
		t.Errorf("x-amz-meta-sha256 = %q, want %s", got, sum(data))
	}
	if !strings.Contains(raw.ETag, "-") {
		t.Errorf("ETag %q: want a multipart ETag (12 MiB in 5 MiB parts)", raw.ETag)
	}
	_, err = s.PutObject(ctx, "00000.tar", bytes.NewReader(randBytes(11<<20, 2)), storage.PutOptions{IfAbsent: true})
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("create-once multipart over a taken key: %v", err)
	}
	if got := get(t, s, "00000.tar"); !bytes.Equal(got, data) {
		t.Fatal("refused create changed the object")
	}
	if _, err := s.PutObject(ctx, "00001.tar", bytes.NewReader(data), storage.PutOptions{IfAbsent: true}); err != nil {
		t.Fatalf("create-once multipart on a free key: %v", err)
	}
	// Single PUTs are signed with the content's SHA-256: the server
	// refuses a body that does not match it.
	_, err = minio.Core{Client: srv.Client()}.PutObject(ctx, testBucket, "jobs/j1/bad", strings.NewReader("abc"), 3, "",
		sum([]byte("abd")), minio.PutObjectOptions{DisableContentSha256: true})
	if err == nil {
		t.Error("the server accepted a body that does not match its signed SHA-256")
	}
	if got := keys(t, s, ""); strings.Join(got, ",") != "00000.tar,00001.tar" {
		t.Fatalf("keys %v", got)
	}
}

// TestS3RetriesAcrossOutage: a Put started while the server is down
// succeeds once it is back (~2 s later), and the object is complete.
func TestS3RetriesAcrossOutage(t *testing.T) {
	srv := s3test.Start(t, testBucket)
	cfg := s3Config(srv)
	cfg.RetryBase, cfg.RetryMax, cfg.MaxAttempts = 100*time.Millisecond, time.Second, 30
	s := openS3(t, cfg, "s3://"+testBucket+"/outage")
	small, big := randBytes(100_000, 3), randBytes(11<<20, 4)
	srv.Stop()
	type res struct {
		info storage.ObjectInfo
		err  error
	}
	done := make(chan res, 2)
	for i, d := range [][]byte{small, big} {
		go func() {
			info, err := s.PutObject(context.Background(), []string{"small", "big"}[i], bytes.NewReader(d), storage.PutOptions{})
			done <- res{info, err}
		}()
	}
	time.Sleep(2 * time.Second)
	select {
	case r := <-done:
		t.Fatalf("put finished while the server was down: %+v", r)
	default:
	}
	srv.Start()
	for range 2 {
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatalf("put across the outage: %v", r.err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("put did not finish after the restart")
		}
	}
	if got := get(t, s, "small"); !bytes.Equal(got, small) {
		t.Fatal("small object corrupt after the outage")
	}
	if got := get(t, s, "big"); !bytes.Equal(got, big) {
		t.Fatal("multipart object corrupt after the outage")
	}
	if st, err := s.Stat(context.Background(), "big"); err != nil || st.SHA256 != sum(big) {
		t.Fatalf("stat: %+v %v", st, err)
	}
}

// TestS3GetResumesAcrossOutage: a streaming read broken by a restart picks
// up where it stopped and returns the exact bytes.
func TestS3GetResumesAcrossOutage(t *testing.T) {
	srv := s3test.Start(t, testBucket)
	cfg := s3Config(srv)
	cfg.RetryBase, cfg.RetryMax, cfg.MaxAttempts = 100*time.Millisecond, time.Second, 30
	s := openS3(t, cfg, "s3://"+testBucket+"/resume")
	data := randBytes(32<<20, 5)
	put(t, s, "obj", data)
	rc, err := s.Get(context.Background(), "obj")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	go func() { time.Sleep(time.Second); srv.Start() }()
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read across the outage: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, not the object's %d", len(got), len(data))
	}
}

func TestS3UnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := storage.S3Config{Endpoint: "http://" + addr, AccessKey: "k", SecretKey: "s", Lookup: "path"}
	start := time.Now()
	_, err = storage.OpenS3(context.Background(), "s3://"+testBucket+"/x", cfg)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), testBucket) ||
		!strings.Contains(err.Error(), "attempts") {
		t.Fatalf("open against %s: %v", addr, err)
	}
	if took > 15*time.Second {
		t.Fatalf("unreachable endpoint took %v to fail", took)
	}
	s, err := storage.NewS3(cfg, testBucket, "x")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = s.Put(ctx, "k", strings.NewReader("v"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "s3 put s3://"+testBucket+"/x/k") {
		t.Fatalf("put bounded by ctx: %v", err)
	}
	t.Logf("unreachable: %v after %v", err, took)
}

func TestS3WrongCredentials(t *testing.T) {
	srv := s3test.Start(t, testBucket)
	cfg := s3Config(srv)
	cfg.SecretKey = "not-the-secret"
	start := time.Now()
	_, err := storage.OpenS3(context.Background(), "s3://"+testBucket, cfg)
	if err == nil || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("open with a wrong secret: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("wrong credentials took %v to fail (retried?)", took)
	}
	cfg = s3Config(srv)
	if _, err := storage.OpenS3(context.Background(), "s3://no-such-bucket/p", cfg); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("missing bucket: %v", err)
	}
}

// TestS3OpenFromEnv: storage.Open and OpenObject dispatch s3:// URLs with
// the endpoint and credentials of the environment.
func TestS3OpenFromEnv(t *testing.T) {
	srv := s3test.Start(t, testBucket)
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_REGION", s3test.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("S3_ENDPOINT", srv.Endpoint())
	t.Setenv("SANAFARM_S3_LOOKUP", "path")
	ctx := context.Background()
	s, err := storage.Open(ctx, "s3://"+testBucket+"/prompts")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(ctx, "p.txt", strings.NewReader("a cat\na dog\n")); err != nil {
		t.Fatal(err)
	}
	rc, err := storage.OpenObject(ctx, "s3://"+testBucket+"/prompts/p.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "a cat\na dog\n" {
		t.Fatalf("OpenObject: %q", b)
	}
	if _, err := storage.OpenObject(ctx, "s3://"+testBucket+"/prompts/missing.txt"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
}
