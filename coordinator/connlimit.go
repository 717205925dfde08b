package coordinator

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// The API port is reachable by clients without a token (the health
// probe, /metrics, the dashboard's login), so an open connection costs
// the coordinator before anyone is authenticated: a goroutine, buffers and
// a file descriptor each, which are also what Raft, etcd and NATS need.
// connLimitListener bounds them: at most max open connections in all and
// perClient per client address (addrKey). A connection past either bound
// is closed as soon as it is accepted, so one client cannot starve the
// others or the coordinator, and a refused client's retry finds a slot as
// soon as one of its own connections closes.

// connLimitListener is a net.Listener that refuses connections past its
// bounds.
type connLimitListener struct {
	net.Listener
	max, perClient int
	log            *slog.Logger
	clock          func() time.Time
	// proxies, with --proxy-protocol, are the peers whose connections
	// open with a PROXY header naming their client (proxyconn.go).
	proxies []netip.Prefix

	mu       sync.Mutex
	total    int
	byClient map[string]int
	warned   time.Time // the last "refused" warning (one a minute at most)
	refused  int       // connections refused since then
}

func newConnLimitListener(ln net.Listener, max, perClient int, log *slog.Logger, clock func() time.Time) *connLimitListener {
	return &connLimitListener{Listener: ln, max: max, perClient: perClient, log: log, clock: clock, byClient: map[string]int{}}
}

// Accept returns the next connection within the bounds, closing those
// past them.
func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := c.RemoteAddr().String()
		if l.fromProxy(peer) {
			// Its client is counted once its header is read, in the
			// connection's own goroutine (proxyconn.go).
			if l.admit("", true) {
				return newProxiedConn(c, l), nil
			}
		} else if client := addrKey(peer); l.admit(client, true) {
			return &limitedConn{Conn: c, release: func() { l.release(client, true) }}, nil
		}
		c.Close()
	}
}

// admit counts a connection in — in all (total) and for client (unless
// "") — unless that is past a bound.
func (l *connLimitListener) admit(client string, total bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	why := ""
	switch {
	case total && l.total >= l.max:
		why = "the API has its most open connections"
	case client != "" && l.byClient[client] >= l.perClient:
		why = "the client has its most open connections"
	default:
		if total {
			l.total++
		}
		if client != "" {
			l.byClient[client]++
		}
		return true
	}
	l.refused++
	if now := l.clock(); now.Sub(l.warned) >= time.Minute {
		l.log.Warn("API connection refused", "why", why, "client", client, "open", l.total, "client_open", l.byClient[client],
			"max", l.max, "max_per_client", l.perClient, "refused_since_last_warning", l.refused)
		l.warned, l.refused = now, 0
	}
	return false
}

// release counts a closed connection out: in all (total) and for client
// (unless "").
func (l *connLimitListener) release(client string, total bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if total {
		l.total--
	}
	if client == "" {
		return
	}
	if l.byClient[client]--; l.byClient[client] <= 0 {
		delete(l.byClient, client)
	}
}

// limitedConn releases its slot once, on its first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
