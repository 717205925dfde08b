package coordinator

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// Behind the load balancer every connection comes from the balancer, so
// the per-client bound of connlimit.go counted all clients as one
// (realclient.go tells requests apart, but only once a request is read).
// With --proxy-protocol (Config.ProxyProtocol, DigitalOcean's
// enable_proxy_protocol, HAProxy's send-proxy) a trusted proxy opens each
// connection with a PROXY header (v1 or v2, parsed by go-proxyproto)
// naming its client, and the connection counts against that client's
// bound from then on, and has that client's address for the throttle and
// the logs. Only peers in Config.TrustedProxies may send one: from anyone
// else the header is not read, and a TLS handshake starting with it fails.
// The header is optional even from a trusted peer, since a balancer's
// health checks may come without one (the peer then is the client).

// proxyHeaderTimeout bounds the wait for a trusted proxy's header; the
// balancer sends it with the connection, so a slow one is a broken one.
const proxyHeaderTimeout = 5 * time.Second

// errClientConns is a proxied connection's error when its client already
// has its most open connections.
var errClientConns = errors.New("the client has its most open connections")

// fromProxy reports whether peer may open with a PROXY header.
func (l *connLimitListener) fromProxy(peer string) bool {
	if len(l.proxies) == 0 {
		return false
	}
	ip, ok := hostAddr(peer)
	return ok && inPrefixes(ip, l.proxies)
}

// proxiedConn is a connection from a trusted proxy, counted in the
// listener's total from accept and against its client's bound once the
// header is read: on the first Read or RemoteAddr, in the connection's own
// goroutine (http.Server's), never in Accept's, so a slow proxy holds up
// only its own connection.
type proxiedConn struct {
	*proxyproto.Conn
	l      *connLimitListener
	once   sync.Once
	client string // counted against its bound; "" if not (yet)
	err    error
	closed sync.Once
}

func newProxiedConn(c net.Conn, l *connLimitListener) *proxiedConn {
	pc := proxyproto.NewConn(c, proxyproto.WithPolicy(proxyproto.USE), proxyproto.SetReadHeaderTimeout(proxyHeaderTimeout))
	return &proxiedConn{Conn: pc, l: l}
}

// admit reads the header and counts the connection against its client.
func (c *proxiedConn) admit() error {
	c.once.Do(func() {
		// Reads the header; a bad one leaves the proxy's address, and
		// the connection's first Read fails with its error.
		client := addrKey(c.Conn.RemoteAddr().String())
		if !c.l.admit(client, false) {
			c.err = errClientConns
			return
		}
		c.client = client
	})
	return c.err
}

func (c *proxiedConn) Read(b []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *proxiedConn) Write(b []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// RemoteAddr is the client the header names (the proxy without one).
func (c *proxiedConn) RemoteAddr() net.Addr {
	_ = c.admit()
	return c.Conn.RemoteAddr()
}

// Close closes the connection first (ending a header read in progress),
// then counts it out once.
func (c *proxiedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		c.once.Do(func() { c.err = net.ErrClosed }) // waits for an admit in progress
		c.l.release(c.client, true)
	})
	return err
}
