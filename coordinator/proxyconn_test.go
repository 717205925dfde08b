package coordinator

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/tlstest"
)

// proxyServer serves, on a connection-limited listener whose trusted
// proxies are trusted, a handler that answers with the request's
// RemoteAddr.
func proxyServer(t *testing.T, perClient int, trusted string) (*connLimitListener, string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newConnLimitListener(inner, 100, perClient, slog.New(slog.DiscardHandler), time.Now)
	ln.proxies = []netip.Prefix{netip.MustParsePrefix(trusted)}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln, inner.Addr().String()
}

// ask sends header (a PROXY line, or "") and a request on c, and returns
// the address the server saw, or "" when it closed the connection.
func ask(t *testing.T, c net.Conn, header string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, header+"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return ""
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.Status
	}
	return string(b)
}

const (
	clientA = "PROXY TCP4 203.0.113.7 10.0.0.1 5555 7700\r\n"
	clientB = "PROXY TCP4 198.51.100.9 10.0.0.1 6666 7700\r\n"
)

// TestProxyProtocolPerClient: behind a proxy that sends PROXY headers,
// each client has its own connection bound and its own address; a
// connection without a header is the proxy's; a closed one frees its
// client's slot.
func TestProxyProtocolPerClient(t *testing.T) {
	ln, addr := proxyServer(t, 2, "127.0.0.0/8")
	var a []net.Conn
	for range 2 {
		c := dialFrom(t, "127.0.0.2", addr)
		if got := ask(t, c, clientA); got != "203.0.113.7:5555" {
			t.Fatalf("client A's connection: the server saw %q", got)
		}
		a = append(a, c)
	}
	if got := ask(t, dialFrom(t, "127.0.0.2", addr), clientA); got != "" {
		t.Fatalf("client A's third connection (bound 2): answered %q, want closed", got)
	}
	if got := ask(t, dialFrom(t, "127.0.0.2", addr), clientB); got != "198.51.100.9:6666" {
		t.Fatalf("client B through the same proxy: %q", got)
	}
	if got := ask(t, dialFrom(t, "127.0.0.2", addr), ""); !strings.HasPrefix(got, "127.0.0.2:") {
		t.Fatalf("the proxy's own connection (a health check): %q", got)
	}
	a[0].Close()
	waitFor(t, 5*time.Second, "A's slot freed", func() bool {
		ln.mu.Lock()
		defer ln.mu.Unlock()
		return ln.byClient["203.0.113.7"] == 1
	})
	if got := ask(t, dialFrom(t, "127.0.0.2", addr), clientA); got != "203.0.113.7:5555" {
		t.Fatalf("client A once a connection closed: %q", got)
	}
}

// TestProxyHeaderUntrusted: a PROXY header from a peer outside the
// trusted networks is not read: the request is malformed, and the peer
// keeps its own address.
func TestProxyHeaderUntrusted(t *testing.T) {
	_, addr := proxyServer(t, 2, "10.0.0.0/8")
	c := dialFrom(t, "127.0.0.3", addr)
	if got := ask(t, c, clientA); got != "400 Bad Request" && got != "" {
		t.Fatalf("a header from an untrusted peer: the server answered %q", got)
	}
	if got := ask(t, dialFrom(t, "127.0.0.3", addr), ""); !strings.HasPrefix(got, "127.0.0.3:") {
		t.Fatalf("the untrusted peer's plain request: %q", got)
	}
}

// FuzzProxiedConn: whatever a trusted proxy sends first, reading its
// connection ends (data or an error) without a panic, and once closed
// the connection is counted out of every bound.
func FuzzProxiedConn(f *testing.F) {
	for _, s := range []string{clientA, clientB, "", "PROXY UNKNOWN\r\n", "PROXY TCP6 ::1 ::2 1 2\r\n", "PROXY TCP4 1.2.3.4\r\n",
		"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02", "GET / HTTP/1.1\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ln := newConnLimitListener(nil, 10, 1, slog.New(slog.DiscardHandler), time.Now)
		server, client := net.Pipe()
		go func() {
			client.SetWriteDeadline(time.Now().Add(2 * time.Second))
			client.Write(data)
			client.Close()
		}()
		if !ln.admit("", true) {
			t.Fatal("no room in an empty listener")
		}
		c := newProxiedConn(server, ln)
		_ = c.RemoteAddr()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
		c.Close()
		ln.mu.Lock()
		defer ln.mu.Unlock()
		if ln.total != 0 || len(ln.byClient) != 0 {
			t.Fatalf("after close: %d open, by client %v", ln.total, ln.byClient)
		}
	})
}

// TestAPIProxyProtocol: a coordinator with ProxyProtocol counts the
// connections a trusted proxy opens per client the header names; without
// it the same headers are refused as malformed requests.
func TestAPIProxyProtocol(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.HTTP.MaxConnsPerClient, cfg.TrustedProxies, cfg.ProxyProtocol = 2, trusted, true
	})
	addr := c.members[0].srv.HTTPAddr()
	for i, h := range []string{clientA, clientA, clientB, clientB} {
		if got := ask(t, dialFrom(t, "127.0.0.4", addr), h); got == "" || strings.HasPrefix(got, "4") {
			t.Fatalf("connection %d through the proxy (2 per client, 2 clients): %q", i, got)
		}
	}
	if got := ask(t, dialFrom(t, "127.0.0.4", addr), clientA); got != "" {
		t.Fatalf("client A's third connection: %q, want closed", got)
	}

	plain := startCluster(t, 1, func(cfg *Config) { cfg.TrustedProxies = trusted })
	if got := ask(t, dialFrom(t, "127.0.0.4", plain.members[0].srv.HTTPAddr()), clientA); got != "400 Bad Request" && got != "" {
		t.Fatalf("a PROXY header to a coordinator without ProxyProtocol: %q", got)
	}
}

// TestAPIProxyProtocolTLS: over HTTPS the PROXY header comes before the
// TLS handshake; each client the header names has its own bound.
func TestAPIProxyProtocolTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "api CA")
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.APITLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, cfg.ID).Pair(t)}}
		cfg.HTTP.MaxConnsPerClient, cfg.ProxyProtocol = 1, true
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	addr := c.members[0].srv.HTTPAddr()
	healthy := func(header string) bool {
		raw := dialFrom(t, "127.0.0.5", addr)
		raw.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(raw, header); err != nil {
			return false
		}
		tc := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		t.Cleanup(func() { tc.Close() })
		return answers(t, tc)
	}
	if !healthy(clientA) || !healthy(clientB) {
		t.Fatal("one connection each of two clients through the proxy (1 per client) was refused")
	}
	if healthy(clientA) {
		t.Fatal("client A's second connection was served (1 per client)")
	}
	if !healthy("") {
		t.Fatal("the proxy's own connection (a health check, no header) was refused")
	}
}
