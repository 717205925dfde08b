package coordinator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/protocol"
)

// handshakeTimeout bounds a Raft peer's TLS handshake, so a connection
// that never speaks TLS does not hold a transport goroutine forever.
const handshakeTimeout = 10 * time.Second

// LoadClusterTLS reads the cluster CA and this coordinator's certificate
// and key (PEM files) into the mutual-TLS config of the Raft transport
// and of writes forwarded between coordinators (Config.ClusterTLS).
// Both sides present their certificate and verify the other's against the
// CA only, and a peer must hold a coordinator certificate: one valid for
// server auth as well as client auth (deploy/terraform/gen-tls.sh issues
// nodes client-only certificates, which open etcd but never Raft).
func LoadClusterTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster CA %s: no PEM certificate in it", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading cluster certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
		VerifyConnection: requireCoordinatorCert}, nil
}

// requireCoordinatorCert runs after chain verification: the peer's leaf
// must allow server auth (a coordinator's certificate, not a node's).
func requireCoordinatorCert(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("peer sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if len(leaf.ExtKeyUsage) == 0 || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil
	}
	return fmt.Errorf("peer certificate %q is not a coordinator certificate (no server auth usage)", leaf.Subject.CommonName)
}

// tlsStreamLayer is the Raft stream layer over mutual TLS: Accept wraps
// each TCP connection as a TLS server (handshake on first use, bounded by
// handshakeTimeout) and Dial verifies the peer against the cluster CA.
type tlsStreamLayer struct {
	net.Listener
	cfg  *tls.Config
	log  *slog.Logger
	dial ContextDialer // nil: a net.Dialer
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

func (l *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, l.cfg), log: l.log}, nil
}

func (l *tlsStreamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(addr))
	if err != nil {
		return nil, fmt.Errorf("raft peer address %q: %w", addr, err)
	}
	cfg := l.cfg.Clone()
	cfg.ServerName = host
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := dialerOr(l.dial, timeout).DialContext(ctx, "tcp", string(addr))
	if err != nil {
		return nil, fmt.Errorf("raft tls dial %s: %w", addr, err)
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("raft tls dial %s: %w", addr, err)
	}
	return c, nil
}

// serverConn does the server handshake before the first read or write
// and logs a failed one (a peer without a cluster certificate, or
// plaintext): raft itself only sees a broken connection.
type serverConn struct {
	*tls.Conn
	log  *slog.Logger
	once sync.Once
	err  error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if c.err = c.HandshakeContext(ctx); c.err != nil {
			c.log.Warn("raft: rejected a connection (tls handshake failed)", "remote", c.RemoteAddr().String(), "err", c.err)
		}
	})
	return c.err
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// forwardTransport is the round tripper of writes a follower forwards to
// the leader. With cluster TLS it presents this coordinator's certificate,
// trusts only the cluster CA and refuses plain http: the request carries
// the client's bearer token, and the leader URL comes from etcd.
func forwardTransport(cluster *tls.Config) http.RoundTripper {
	if cluster == nil {
		return nil // http.DefaultTransport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	cfg := cluster.Clone()
	cfg.ClientCAs, cfg.ClientAuth = nil, tls.NoClientCert
	t.TLSClientConfig = cfg
	return httpsOnly{t}
}

type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing to forward to %s://%s over plain http with cluster TLS configured (serve the API with --tls-cert and advertise an https URL)", r.URL.Scheme, r.URL.Host)
	}
	return h.rt.RoundTrip(r)
}

// apiTLS is the API server's TLS config: Config.APITLS, and with cluster
// TLS also the cluster CA for client certificates (optional: clients use
// the bearer token; coordinators forwarding writes present theirs).
func (s *Server) apiTLS() *tls.Config {
	if s.cfg.APITLS == nil {
		return nil
	}
	cfg := s.cfg.APITLS.Clone()
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if s.cfg.ClusterTLS != nil {
		cfg.ClientCAs = s.cfg.ClusterTLS.ClientCAs
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg
}

// requireClusterCertOnForward refuses a request marked as forwarded by a
// coordinator unless it came with a verified cluster certificate (with
// cluster TLS configured): only coordinators may claim to forward.
func requireClusterCertOnForward(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fwd := r.Header.Get(forwardedHeader) != ""
		if fwd && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || requireCoordinatorCert(*r.TLS) != nil) {
			writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "a forwarded write needs a coordinator's cluster certificate"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
