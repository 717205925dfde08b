package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// Systems whose calls are counted by Retries (the "system" label).
const (
	SystemS3   = "s3"
	SystemHub  = "hub"
	SystemNATS = "nats"
)

// Causes are the values of the "cause" label: a bounded set, never an
// error string or a URL (each distinct value is a time series).
const (
	CauseTimeout     = "timeout"
	CauseCanceled    = "canceled"
	CauseNetwork     = "network"
	CauseThrottled   = "throttled"
	CauseServer      = "server_error"
	CauseClient      = "client_error"
	CauseAccess      = "access_denied"
	CauseNotFound    = "not_found"
	CauseNoResponder = "no_responders"
	CauseNotLeader   = "not_leader"
	CauseUnavailable = "unavailable"
	CauseIntegrity   = "integrity"
	CauseOther       = "other"
)

// Retries counts remote calls that failed and were retried
// (sanafarm_retries_total) and those that failed for good
// (sanafarm_request_failures_total), by system and cause. A nil
// *Retries counts nothing.
type Retries struct {
	retries, failures *prometheus.CounterVec
}

// NewRetries registers the two families on reg.
func NewRetries(reg prometheus.Registerer) *Retries {
	r := &Retries{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sanafarm_retries_total",
			Help: "Failed remote calls (S3, Hub, NATS) that were retried, by system and cause."}, []string{"system", "cause"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sanafarm_request_failures_total",
			Help: "Remote calls (S3, Hub, NATS) that failed for good, by system and cause."}, []string{"system", "cause"}),
	}
	reg.MustRegister(r.retries, r.failures)
	return r
}

// Collectors are the two counter families (for FamilyNames).
func (r *Retries) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.retries, r.failures}
}

// Retry counts one retried failure.
func (r *Retries) Retry(system, cause string) {
	if r != nil {
		r.retries.WithLabelValues(system, cause).Inc()
	}
}

// Failure counts one call that failed for good.
func (r *Retries) Failure(system, cause string) {
	if r != nil {
		r.failures.WithLabelValues(system, cause).Inc()
	}
}

type retriesKey struct{}

// WithRetries returns ctx carrying r, for the storage and Hub clients
// running under it.
func WithRetries(ctx context.Context, r *Retries) context.Context {
	if r == nil {
		return ctx
	}
	return context.WithValue(ctx, retriesKey{}, r)
}

// RetriesFrom returns the Retries ctx carries (nil: count nothing).
func RetriesFrom(ctx context.Context) *Retries {
	r, _ := ctx.Value(retriesKey{}).(*Retries)
	return r
}

// NetCause classifies the errors every client shares: cancellation,
// timeouts and connection failures; "" for anything else, which the
// caller classifies further.
func NetCause(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return CauseCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return CauseTimeout
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return CauseNetwork
	}
	return ""
}

// HTTPCause classifies an HTTP status code.
func HTTPCause(code int) string {
	switch {
	case code == 429:
		return CauseThrottled
	case code == 401 || code == 403:
		return CauseAccess
	case code == 404:
		return CauseNotFound
	case code == 408:
		return CauseTimeout
	case code >= 500:
		return CauseServer
	case code >= 400:
		return CauseClient
	}
	return CauseOther
}
