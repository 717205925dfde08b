package storage

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
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
// body stops being read), a download (whose body stops coming) and the
// requests without a guard of their own (whose response headers never
// come: the transport waits StallTimeout for them) end with a retryable
// error after MaxAttempts tries, instead of blocking forever (before,
// a stat waited the transport's fixed 2 min per try whatever the stall
// timeout).
func TestS3StalledEndpointEnds(t *testing.T) {
	const noHeaders = "timeout awaiting response headers"
	for _, tc := range []struct {
		name, want string
		op         func(ctx context.Context, s *S3) error
	}{
		{"put", "no progress", func(ctx context.Context, s *S3) error {
			_, err := s.Put(ctx, "shard.tar", bytes.NewReader(make([]byte, 32<<20)))
			return err
		}},
		{"get", "no progress", func(ctx context.Context, s *S3) error {
			rc, err := s.Get(ctx, "shard.tar")
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		}},
		{"stat", noHeaders, func(ctx context.Context, s *S3) error { _, err := s.Stat(ctx, "shard.tar"); return err }},
		{"copy", noHeaders, func(ctx context.Context, s *S3) error { _, err := s.Copy(ctx, "a.tar", "b.tar"); return err }},
		{"delete", noHeaders, func(ctx context.Context, s *S3) error { return s.Delete(ctx, "shard.tar") }},
		{"check", noHeaders, func(ctx context.Context, s *S3) error { return s.Check(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, hung := hungS3(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := tc.op(ctx, s)
			if ctx.Err() != nil {
				t.Fatalf("%s blocked until the test's deadline: %v", tc.name, err)
			}
			if err == nil || !strings.Contains(err.Error(), "failing after 2 attempts") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: %v, want a retried error saying %q", tc.name, err, tc.want)
			}
			if tc.want == "no progress" && !errors.Is(err, errS3Stalled) {
				t.Errorf("%s: %v, want errS3Stalled", tc.name, err)
			}
			if n := hung.Load(); n != 2 {
				t.Errorf("%s: %d requests, want MaxAttempts = 2", tc.name, n)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

// TestS3RetryableTimeouts: a caller's cancellation or deadline is final;
// the timeouts of a hung or unreachable endpoint (net's dial, net/http's
// response headers) are retried although errors.Is matches them to
// context.DeadlineExceeded (they once were not).
func TestS3RetryableTimeouts(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, dialErr := (&net.Dialer{}).DialContext(expired, "tcp", "127.0.0.1:9")
	if !errors.Is(dialErr, context.DeadlineExceeded) {
		t.Fatalf("dial with an expired context: %v, want a timeout matching context.DeadlineExceeded", dialErr)
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"canceled", fmt.Errorf("put: %w", context.Canceled), false},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), false},
		{"deadline joined", errors.Join(errors.New("x"), context.DeadlineExceeded), false},
		{"dial timeout", &url.Error{Op: "Put", URL: "http://s3", Err: dialErr}, true},
		{"stall", fmt.Errorf("%w for 4s", errS3Stalled), true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"other", errors.New("bad request"), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestTransientAndMisconfigured: only an operation that gave up on an
// unavailable store is Transient (a raw network error or content that
// does not decode is not); a misconfigured endpoint is not retried.
func TestTransientAndMisconfigured(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name                 string
		err                  error
		retryable, transient bool
	}{
		{"gave up on a down endpoint", fmt.Errorf("s3 put: endpoint failing after 6 attempts: %w: %w", ErrUnavailable, refused), true, true},
		{"a raw dial error", refused, true, false},
		{"truncated content", fmt.Errorf("decoding init image: %w", io.ErrUnexpectedEOF), true, false},
		{"untrusted certificate", &url.Error{Op: "Get", URL: "https://s3", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, false, false},
		{"no such host", &url.Error{Op: "Get", URL: "https://s3", Err: &net.DNSError{Name: "s3.example", IsNotFound: true}}, false, false},
		{"DNS timeout", &url.Error{Op: "Get", URL: "https://s3", Err: &net.DNSError{Name: "s3.example", IsTimeout: true}}, true, false},
		{"plain HTTP endpoint", &url.Error{Op: "Get", URL: "https://s3", Err: errors.New("http: server gave HTTP response to HTTPS client")}, false, false},
	} {
		if got := retryable(c.err); got != c.retryable {
			t.Errorf("%s: retryable %v, want %v", c.name, got, c.retryable)
		}
		if got := Transient(c.err); got != c.transient {
			t.Errorf("%s: Transient %v, want %v", c.name, got, c.transient)
		}
	}
}
