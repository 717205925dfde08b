// Package embedded starts the farm's infrastructure in-process: an etcd
// server (go.etcd.io/etcd/server/v3/embed) and a NATS server
// (nats-server/v2). `sanafarm dev` and internal/testcluster use it; both
// are the real servers, not fakes.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EtcdConfig configures an embedded single-member etcd.
type EtcdConfig struct {
	// Dir holds etcd's data (required; reused across restarts).
	Dir string
	// Host is the loopback address its client and peer listeners bind
	// (default 127.0.0.1); ports are chosen by the kernel.
	Host string
	// ReadyTimeout bounds the wait for the server (default 30 s).
	ReadyTimeout time.Duration
	// TLS, if set, serves clients over https as the deployed etcd does
	// (docs/deploy.md §3, "Security": client-cert-auth with the cluster
	// CA), so tests can check what certificates and users allow together.
	// nil: plain http, as `sanafarm dev` and the test clusters run it.
	TLS *EtcdTLS
	// QuotaBytes is etcd's database quota (quota-backend-bytes; 0: etcd's
	// 2 GiB): tests fill a small one to see the NOSPACE alarm.
	QuotaBytes int64
}

// EtcdTLS is the client listener's TLS: etcd's --cert-file, --key-file,
// --trusted-ca-file and --client-cert-auth. Peers stay on plain http:
// the embedded etcd has a single member on loopback.
type EtcdTLS struct {
	// CertFile and KeyFile are the server's certificate and key (PEM).
	CertFile, KeyFile string
	// ClientCAFile is the CA (PEM) that client certificates must chain
	// to. etcd refuses the handshake of a client without one as soon as
	// this is set, ClientCertAuth or not.
	ClientCAFile string
	// ClientCertAuth also requires a client certificate, and once
	// authentication is on makes etcd take a certificate's Common Name as
	// the user of a client that gives no username (a given username and
	// password come first). Without it such a client has no user at all.
	ClientCertAuth bool
}

// Etcd is a running embedded etcd. Close it once (it is safe to call
// Close again: the server's own Close panics on a second call).
type Etcd struct {
	e    *embed.Etcd
	once sync.Once
	tls  bool
}

// StartEtcd starts etcd and waits until it serves clients.
func StartEtcd(ctx context.Context, c EtcdConfig) (*Etcd, error) {
	if c.Dir == "" {
		return nil, errors.New("starting etcd: a data directory is required")
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	cfg := embed.NewConfig()
	cfg.Dir = c.Dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	local := url.URL{Scheme: "http", Host: c.Host + ":0"}
	clientURL := local
	if c.TLS != nil {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			return nil, fmt.Errorf("starting etcd: TLS CertFile %q and KeyFile %q: both are required", c.TLS.CertFile, c.TLS.KeyFile)
		}
		if c.TLS.ClientCertAuth && c.TLS.ClientCAFile == "" { // else any CA of the system would vouch for clients
			return nil, errors.New("starting etcd: TLS ClientCertAuth needs a ClientCAFile")
		}
		clientURL.Scheme = "https"
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
			TrustedCAFile: c.TLS.ClientCAFile, ClientCertAuth: c.TLS.ClientCertAuth}
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{local}, []url.URL{local}
	cfg.InitialCluster = cfg.Name + "=" + local.String()
	// Bounded history: each announcement is a revision, kept until
	// compacted; a dev farm left running must not fill etcd's quota.
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "periodic", "1h"
	cfg.QuotaBackendBytes = c.QuotaBytes
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting etcd: %w", err)
	}
	ec := &Etcd{e: e, tls: c.TLS != nil}
	t := time.NewTimer(c.ReadyTimeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return ec, nil
	case err := <-e.Err():
		ec.Close()
		return nil, fmt.Errorf("starting etcd: %w", err)
	case <-t.C:
		ec.Close()
		return nil, fmt.Errorf("starting etcd: not ready after %v", c.ReadyTimeout)
	case <-ctx.Done():
		ec.Close()
		return nil, fmt.Errorf("starting etcd: %w", ctx.Err())
	}
}

// Endpoints are the client addresses (host:port).
func (e *Etcd) Endpoints() []string {
	var out []string
	for _, l := range e.e.Clients {
		out = append(out, l.Addr().String())
	}
	return out
}

// Client returns a new client of this server; the caller closes it.
// A server with TLS needs the caller's certificates: dial it with
// clientv3.Config.TLS instead (Client refuses, rather than hand back a
// client whose every call fails).
func (e *Etcd) Client() (*clientv3.Client, error) {
	if e.tls {
		return nil, errors.New("connecting to embedded etcd: it serves TLS; dial its Endpoints with clientv3.Config.TLS")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connecting to embedded etcd: %w", err)
	}
	return cli, nil
}

// Close stops the server (once).
func (e *Etcd) Close() { e.once.Do(e.e.Close) }

// NATSConfig configures an embedded NATS server.
type NATSConfig struct {
	// Host and Port it listens on (defaults 127.0.0.1 and a free port).
	Host string
	Port int
	// MaxPayload raises the message size limit (0 = NATS's 1 MiB).
	MaxPayload int32
	// ReadyTimeout bounds the wait for the server (default 10 s).
	ReadyTimeout time.Duration
	// Users, if any, are the only clients the server accepts, each
	// limited to its subjects (RoleUsers); none: no authentication.
	Users []NATSUser
	// Cluster, when set, makes the server a member of a NATS cluster
	// (tests of partitions between NATS servers).
	Cluster *NATSCluster
}

// NATSCluster is a server's part in a NATS cluster: it listens for routes
// on ListenAddr (default a free port), tells the others to dial
// Advertise (default its listen address: a test puts a proxy there, to
// cut the route) and dials Routes itself.
type NATSCluster struct {
	Name       string
	ListenAddr string
	Advertise  string
	Routes     []string // host:port
}

// NATS is a running embedded NATS server.
type NATS struct {
	s    *server.Server
	once sync.Once
}

// StartNATS starts a NATS server and waits until it accepts connections.
func StartNATS(c NATSConfig) (*NATS, error) {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = -1
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 10 * time.Second
	}
	opts := &server.Options{Host: c.Host, Port: c.Port, MaxPayload: c.MaxPayload,
		Users: serverUsers(c.Users), NoLog: true, NoSigs: true}
	if err := c.Cluster.apply(opts); err != nil {
		return nil, fmt.Errorf("starting nats: %w", err)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting nats: %w", err)
	}
	go s.Start()
	n := &NATS{s: s}
	if !s.ReadyForConnections(c.ReadyTimeout) {
		n.Close()
		return nil, fmt.Errorf("starting nats: not ready after %v", c.ReadyTimeout)
	}
	return n, nil
}

// apply sets the cluster options (nothing for a nil cluster).
func (cl *NATSCluster) apply(o *server.Options) error {
	if cl == nil {
		return nil
	}
	host, port := "127.0.0.1", -1 // NATS: -1 is a free port (0 would be 6222)
	if cl.ListenAddr != "" {
		h, p, err := net.SplitHostPort(cl.ListenAddr)
		if err == nil {
			port, err = strconv.Atoi(p)
		}
		if err != nil || port < 0 || port > 65535 {
			return fmt.Errorf("cluster listen address %q: want host:port", cl.ListenAddr)
		}
		if host = h; port == 0 {
			port = -1
		}
	}
	o.Cluster = server.ClusterOpts{Name: cl.Name, Host: host, Port: port, Advertise: cl.Advertise}
	for _, r := range cl.Routes {
		o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: r})
	}
	return nil
}

// ClusterAddr is the address the server listens on for routes ("" when it
// is in no cluster).
func (n *NATS) ClusterAddr() string {
	if a := n.s.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Routes is how many routes to other servers of its cluster are up.
func (n *NATS) Routes() int { return n.s.NumRoutes() }

// URL is the client URL (nats://host:port).
func (n *NATS) URL() string { return n.s.ClientURL() }

// Close shuts the server down (once) and waits for it.
func (n *NATS) Close() {
	n.once.Do(func() {
		n.s.Shutdown()
		n.s.WaitForShutdown()
	})
}
