package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hungS3 is an S3 endpoint that hangs the way a stopped server does:
// uploads are never read nor answered; a download sends its headers and
// the first KiB of the body, then nothing (a resumed download hangs before
// its headers). It counts the requests that hung.
func hungS3(t *testing.T) (*S3, *atomic.Int32) {
	t.Helper()
	var hung atomic.Int32
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		if r.Method == http.MethodGet && r.Header.Get("Range") == "" {
			w.Header().Set("Content-Length", "1048576")
			w.Header().Set("ETag", `"e1"`)
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(bytes.Repeat([]byte("x"), 1024))
			w.(http.Flusher).Flush()
		}
		select { // a stopped server: until the test ends
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // first: the handlers return
	s, err := NewS3(S3Config{Endpoint: srv.URL, AccessKey: "k", SecretKey: "s", Lookup: "path", PartSize: 64 << 20,
		MaxAttempts: 2, RetryBase: 10 * time.Millisecond, StallTimeout: 300 * time.Millisecond}, "bucket", "")
	if err != nil {
		t.Fatal(err)
	}
	return s, &hung
}

// TestS3StalledEndpointEnds: against a hung endpoint an upload (whose
// body stops being read) and a download (whose body stops coming) end
// with a stall error after MaxAttempts tries, instead of blocking forever.
func TestS3StalledEndpointEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context, s *S3) error
	}{
		{"put", func(ctx context.Context, s *S3) error {
			_, err := s.Put(ctx, "shard.tar", bytes.NewReader(make([]byte, 32<<20)))
			return err
		}},
		{"get", func(ctx context.Context, s *S3) error {
			rc, err := s.Get(ctx, "shard.tar")
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, hung := hungS3(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := tc.op(ctx, s)
			if ctx.Err() != nil {
				t.Fatalf("%s blocked until the test's deadline: %v", tc.name, err)
			}
			if !errors.Is(err, errS3Stalled) || !strings.Contains(err.Error(), "no progress") {
				t.Fatalf("%s: %v, want a stall error", tc.name, err)
			}
			if n := hung.Load(); n != 2 {
				t.Errorf("%s: %d requests, want MaxAttempts = 2", tc.name, n)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}
