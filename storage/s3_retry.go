package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/internal/metrics"
)

// retry runs fn until it succeeds, fails for good, runs out of attempts or
// ctx ends, waiting with exponential backoff and jitter in between. The
// error it returns names the operation, bucket and key.
func (s *S3) retry(ctx context.Context, op, key string, fn func(attempt int) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			return s.opErr(op, key, joinCtx(cerr, err), attempt-1)
		}
		err = fn(attempt)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= s.cfg.MaxAttempts {
			metrics.RetriesFrom(ctx).Failure(metrics.SystemS3, s3Cause(err))
			return s.opErr(op, key, err, attempt)
		}
		metrics.RetriesFrom(ctx).Retry(metrics.SystemS3, s3Cause(err))
		wait := s.backoff(attempt)
		s.log.Warn("s3: retrying", "op", op, "bucket", s.bucket, "key", s.objKey(key),
			"attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return s.opErr(op, key, joinCtx(ctx.Err(), err), attempt)
		case <-t.C:
		}
	}
}

func joinCtx(ctxErr, last error) error {
	if last == nil {
		return ctxErr
	}
	return fmt.Errorf("%w (last error: %w)", ctxErr, last)
}

// backoff is the wait after the attempt-th failure: RetryBase·2^(attempt-1)
// ±50 % jitter (many nodes hitting one throttled bucket must not retry in
// step), capped at RetryMax.
func (s *S3) backoff(attempt int) time.Duration {
	return backoff.Policy{Base: s.cfg.RetryBase, Max: s.cfg.RetryMax, Jitter: 0.5}.Delay(attempt)
}

// retryable reports whether an error may go away on its own: network
// errors, timeouts, 5xx, throttling.
func retryable(err error) bool {
	if errors.Is(err, errS3Stalled) {
		return true // a hung endpoint may come back (s3_stall.go)
	}
	if callerEnded(err) {
		return false
	}
	if misconfigured(err) {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.StatusCode != 0 {
		switch resp.Code {
		case "SlowDown", "SlowDownRead", "SlowDownWrite", "InternalError", "ServiceUnavailable",
			"RequestTimeout", "RequestTimeTooSkewed", "ExpiredToken", "XMinioServerNotInitialized":
			return true
		}
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
			resp.StatusCode == http.StatusRequestTimeout
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}

// misconfigured reports network errors that no retry cures: the
// endpoint's certificate is not trusted or not for its name, its host
// name does not exist, or it speaks plain HTTP to an https:// endpoint.
// (*url.Error and *net.DNSError are net.Errors, so they would count as
// transient otherwise.)
func misconfigured(err error) bool {
	var cert *tls.CertificateVerificationError
	var dns *net.DNSError
	return errors.As(err, &cert) || errors.As(err, &dns) && dns.IsNotFound ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// Transient reports whether err, returned by a store operation, is the
// store being unavailable through all of the operation's tries (an
// endpoint down, hung or throttling: ErrUnavailable) rather than an error
// that would come back the same way (access denied, a missing bucket, a
// bad key, content that does not decode) or the caller's own end.
func Transient(err error) bool { return errors.Is(err, ErrUnavailable) }

// callerEnded reports whether err is a context's end (the caller's
// cancellation or deadline: final) rather than a timeout of net (dial) or
// net/http (response headers, S3Config.StallTimeout): those match
// context.DeadlineExceeded under errors.Is too, but a hung or unreachable
// endpoint causes them and a retry may outlive it.
func callerEnded(err error) bool {
	return errors.Is(err, context.Canceled) || holds(err, context.DeadlineExceeded)
}

// holds reports whether target itself (==, not errors.Is) is in err's
// chain.
func holds(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if holds(e, target) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// opErr wraps err as "s3 OP s3://bucket/key: ...", mapping missing keys to
// ErrNotFound, failed create-only preconditions to ErrExists and adding a
// hint for credential and reachability problems.
func (s *S3) opErr(op, key string, err error, attempts int) error {
	where := fmt.Sprintf("s3 %s s3://%s/%s", op, s.bucket, s.objKey(key))
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %w", where, ErrNotFound)
	case "NoSuchBucket":
		return fmt.Errorf("%s: bucket %q does not exist at %s: %w", where, s.bucket, s.host, err)
	case "PreconditionFailed":
		return fmt.Errorf("%s: %w", where, ErrExists)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%s: access denied by %s (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket's policy): %s: %w",
			where, s.host, resp.Code, err)
	}
	if resp.StatusCode == http.StatusNotFound && op != "put" {
		return fmt.Errorf("%s: %w", where, ErrNotFound)
	}
	if retryable(err) && !callerEnded(err) {
		return fmt.Errorf("%s: endpoint %s failing after %d attempts: %w: %w", where, s.host, attempts, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// s3Cause is err's bounded "cause" label for sanafarm_retries_total and
// sanafarm_request_failures_total (docs/deploy.md, Metrics).
func s3Cause(err error) string {
	if c := metrics.NetCause(err); c != "" {
		return c
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "SlowDown", "SlowDownRead", "SlowDownWrite":
		return metrics.CauseThrottled
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return metrics.CauseAccess
	case "NoSuchKey", "NotFound", "NoSuchBucket":
		return metrics.CauseNotFound
	}
	if resp.StatusCode != 0 {
		return metrics.HTTPCause(resp.StatusCode)
	}
	return metrics.CauseOther
}
