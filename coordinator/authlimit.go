package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Failed authentications are throttled per client address (docs/deploy.md,
// "Security: what is encrypted and authenticated"): a client that sent authFailBurst wrong tokens gets
// one more try every authFailEvery, and until then its requests that need
// a token are answered 429 without the token being looked at — a throttled
// client learns nothing, so guessing a token costs days per address even
// when the operator chose a short one. Right tokens never use up the
// budget. A client behind the same address as a guesser (one NAT, one
// proxy) is throttled with it; X-Forwarded-For names the client only when
// a trusted proxy sent it (realclient.go, as the load balancer of
// docs/deploy.md is) — and a strong token (strongTokenLen bytes or more)
// is still let through while throttled: guessing one is hopeless at any
// rate, so for it the throttle only spares the coordinator's CPU, and one
// guesser cannot lock every other client out. A wrong one gets the 429.
const (
	// strongTokenLen is the shortest token let through while its client
	// is throttled: 32 bytes of openssl rand -hex are 128 bits (and the
	// Terraform module refuses shorter API tokens).
	strongTokenLen = 32

	authFailBurst   = 20
	authFailEvery   = 5 * time.Second
	authFailClients = 10000 // addresses tracked; beyond, the idlest are forgotten
)

// authLimiter holds the failure budget of each client address.
type authLimiter struct {
	mu    sync.Mutex
	by    map[string]*bucket
	clock func() time.Time
	log   *slog.Logger
	// logged is when the last warning went out; quiet counts the clients
	// throttled since (one line a minute, however many guessers).
	logged time.Time
	quiet  int
}

func newAuthLimiter(clock func() time.Time, log *slog.Logger) *authLimiter {
	if clock == nil {
		clock = time.Now
	}
	return &authLimiter{by: map[string]*bucket{}, clock: clock, log: log}
}

// throttled reports whether client may not try a token now, and how long
// until it may.
func (l *authLimiter) throttled(client string) (time.Duration, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.by[client]
	if !ok {
		return 0, false
	}
	now := l.clock()
	if tokens := lim.at(now); tokens < 1 {
		return time.Duration((1 - tokens) * float64(authFailEvery)), true
	}
	return 0, false
}

// try takes one try of client's budget before its token is compared, in
// one step, so that many requests sent at once cannot all pass a check
// made before any of their failures lands. ok false: none left, for wait.
// A right token gives its try back (refund).
func (l *authLimiter) try(client string) (refund func(), wait time.Duration, ok bool) {
	if l == nil {
		return func() {}, 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	lim, known := l.by[client]
	if !known {
		if len(l.by) >= authFailClients {
			l.forgetIdle(now)
		}
		lim = &bucket{tokens: authFailBurst, last: now}
		l.by[client] = lim
	}
	if tokens := lim.at(now); tokens < 1 {
		return nil, time.Duration((1 - tokens) * float64(authFailEvery)), false
	}
	lim.tokens--
	if lim.tokens < 1 {
		l.warn(now, client) // this try was its last for now
	}
	return func() { l.refund(lim) }, 0, true
}

// refund gives a try back (a right token).
func (l *authLimiter) refund(b *bucket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b.tokens = min(b.tokens+1, authFailBurst)
}

// bucket is one client's budget: up to authFailBurst tries, one more
// every authFailEvery. Guarded by authLimiter.mu.
type bucket struct {
	tokens float64
	last   time.Time
}

// at refills the bucket to now and returns its tries.
func (b *bucket) at(now time.Time) float64 {
	if now.After(b.last) {
		b.tokens = min(b.tokens+float64(now.Sub(b.last))/float64(authFailEvery), authFailBurst)
		b.last = now
	}
	return b.tokens
}

// warn logs a throttled client, at most once a minute.
func (l *authLimiter) warn(now time.Time, client string) {
	if l.log == nil {
		return
	}
	if now.Sub(l.logged) < time.Minute && !now.Before(l.logged) {
		l.quiet++
		return
	}
	l.log.Warn("throttling API authentication: too many wrong tokens", "client", client, "others_since_last", l.quiet)
	l.logged, l.quiet = now, 0
}

// forgetIdle drops the clients whose budget is whole again, or, if none,
// an arbitrary half: the map stays bounded whatever addresses an attacker
// sends from (a forgotten guesser only gets a fresh budget).
func (l *authLimiter) forgetIdle(now time.Time) {
	for k, lim := range l.by {
		if lim.at(now) >= authFailBurst {
			delete(l.by, k)
		}
	}
	for k := range l.by {
		if len(l.by) < authFailClients/2 {
			break
		}
		delete(l.by, k)
	}
}

// clientKey is the address a request's failures count against: its IP,
// or for IPv6 its /64 (one host usually owns a whole /64). Requests the
// dashboard makes in process carry the browser's address (api_dashboard.go).
func clientKey(r *http.Request) string {
	addr := r.RemoteAddr
	if v, ok := r.Context().Value(remoteAddrKey{}).(string); ok && v != "" {
		addr = v
	}
	return addrKey(addr)
}

// addrKey is the client a network address counts as: its IP, an IPv6
// client by its /64 (one host usually holds a whole /64).
func addrKey(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// remoteAddrKey carries the browser's address into the dashboard's
// in-process API calls.
type remoteAddrKey struct{}

// withRemoteAddr records r's address in its context for in-process calls.
func withRemoteAddr(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), remoteAddrKey{}, r.RemoteAddr)))
	})
}

// writeThrottled answers a throttled client.
func writeThrottled(w http.ResponseWriter, wait time.Duration) {
	secs := max(int(wait.Round(time.Second)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, protocol.Errorf(protocol.CodeTooManyRequests,
		"too many wrong tokens from this address: try again in %s", fmt.Sprint(time.Duration(secs)*time.Second)))
}

// strongTokens are those of tokens at least strongTokenLen bytes long.
func strongTokens(tokens []string) []string {
	var out []string
	for _, t := range tokens {
		if len(t) >= strongTokenLen {
			out = append(out, t)
		}
	}
	return out
}
