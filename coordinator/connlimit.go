package coordinator

import (
	"log/slog"
	"net"
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
		client := addrKey(c.RemoteAddr().String())
		if l.admit(client) {
			return &limitedConn{Conn: c, release: func() { l.release(client) }}, nil
		}
		c.Close()
	}
}

// admit counts a connection of client in, unless it is past a bound.
func (l *connLimitListener) admit(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	why := ""
	switch {
	case l.total >= l.max:
		why = "the API has its most open connections"
	case l.byClient[client] >= l.perClient:
		why = "the client has its most open connections"
	default:
		l.total++
		l.byClient[client]++
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

// release counts a closed connection of client out.
func (l *connLimitListener) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
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
