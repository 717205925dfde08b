package coordinator

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// HTTPLimits bound the API server's connections, so a client that sends
// its request slowly (slowloris) or never reads its answer holds a
// connection for a bounded time. Zero fields take the defaults.
type HTTPLimits struct {
	// ReadHeaderTimeout: the request line and headers (default 10 s).
	// ReadTimeout: the whole request, body included (default 30 s; bodies
	// are at most 1 MiB). WriteTimeout: from the end of the headers to the
	// end of the answer (default 60 s). IdleTimeout: a kept-alive
	// connection between requests (default 120 s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes: request line and headers (default 64 KiB; larger
	// gets 431).
	MaxHeaderBytes int
	// MaxConns and MaxConnsPerClient bound the open connections, in all
	// and per client address (defaults 4096 and 256; connlimit.go). Behind
	// a load balancer every client is the balancer's address.
	MaxConns, MaxConnsPerClient int
}

// DefaultHTTPLimits are the API server's limits.
var DefaultHTTPLimits = HTTPLimits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
	WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	MaxConns: 4096, MaxConnsPerClient: 256}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := DefaultHTTPLimits
	for _, f := range []struct{ v, d *time.Duration }{{&l.ReadHeaderTimeout, &d.ReadHeaderTimeout},
		{&l.ReadTimeout, &d.ReadTimeout}, {&l.WriteTimeout, &d.WriteTimeout}, {&l.IdleTimeout, &d.IdleTimeout}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	for _, f := range []struct{ v, d *int }{{&l.MaxHeaderBytes, &d.MaxHeaderBytes}, {&l.MaxConns, &d.MaxConns},
		{&l.MaxConnsPerClient, &d.MaxConnsPerClient}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return l
}

// newHTTPServer is the API server with the limits applied. Every current
// route answers within seconds, so the server-wide WriteTimeout is
// moderate rather than absent. A future streaming route (server-sent
// events) must lift both deadlines for its own request with
// http.NewResponseController(w).SetWriteDeadline(time.Time{}) and
// SetReadDeadline(time.Time{}): net/http cancels a request's context when
// the connection's read deadline passes, even after the body was read.
func newHTTPServer(h http.Handler, l HTTPLimits, tc *tls.Config, log *slog.Logger) *http.Server {
	l = l.withDefaults()
	return &http.Server{Handler: h, TLSConfig: tc, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug)}
}
