package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/coordinator"
	"github.com/sanafarm/sanafarm/internal/syncbuf"
	"github.com/sanafarm/sanafarm/internal/tlstest"
)

// startCertEtcd runs an embedded etcd whose client port requires a client
// certificate of ca (etcd's client-cert-auth) and returns its endpoint.
func startCertEtcd(t *testing.T, ca *tlstest.CA) string {
	t.Helper()
	srv := ca.Server(t, "etcd")
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "https", Host: freeLocalAddr(t)}
	peer := url.URL{Scheme: "http", Host: freeLocalAddr(t)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: srv.Cert, KeyFile: srv.Key, TrustedCAFile: ca.File, ClientCertAuth: true}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	return client.String()
}

func freeLocalAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestEtcdClientCertFlags: against etcd with client-cert auth, the
// --etcd-ca/--etcd-cert/--etcd-key flags connect; no certificate, or one
// of another CA, does not.
func TestEtcdClientCertFlags(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	ep := startCertEtcd(t, ca)
	node := ca.Client(t, "node")
	intruder := tlstest.NewCA(t, "other CA").Client(t, "intruder")
	for _, tc := range []struct {
		name  string
		flags etcdTLSFlags
		ok    bool
	}{
		{"node certificate", etcdTLSFlags{ca: ca.File, cert: node.Cert, key: node.Key}, true},
		{"no certificate", etcdTLSFlags{ca: ca.File}, false},
		{"certificate of another CA", etcdTLSFlags{ca: ca.File, cert: intruder.Cert, key: intruder.Key}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsCfg, err := tc.flags.config()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			defer cancel()
			cli, err := connectEtcd(ctx, ep, tlsCfg)
			if err == nil {
				defer cli.Close()
				_, err = cli.Put(ctx, "/sanafarm/test", "x")
			}
			if (err == nil) != tc.ok {
				t.Fatalf("connect and put: err %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestSecurityFlagErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	c := ca.Server(t, "c1")
	cluster := clusterTLSFlags{ca: c.CA, cert: c.Cert, key: c.Key}
	api := apiTLSFlags{cert: c.Cert, key: c.Key}
	ok := coordinatorFlags{cluster: cluster, apiTLS: api, raft: coordinator.DefaultRaftTimeouts, advertise: "https://c1:7700"}
	for _, tc := range []struct {
		name string
		edit func(*coordinatorFlags)
		want string // "" = valid
	}{
		{"all set", func(*coordinatorFlags) {}, ""},
		{"dev: nothing set", func(f *coordinatorFlags) { f.cluster, f.apiTLS, f.advertise = clusterTLSFlags{}, apiTLSFlags{}, "" }, ""},
		{"cluster key missing", func(f *coordinatorFlags) { f.cluster.key = "" }, "--cluster-key \"\": set all three or none"},
		{"cluster without api tls", func(f *coordinatorFlags) { f.apiTLS = apiTLSFlags{} }, "--cluster-ca needs --tls-cert"},
		{"http advertise", func(f *coordinatorFlags) { f.advertise = "http://c1:7700" }, "--advertise http://c1:7700: want an https URL"},
		{"tls key missing", func(f *coordinatorFlags) { f.apiTLS.key = "" }, "set both or neither"},
		{"cluster ca unreadable", func(f *coordinatorFlags) { f.cluster.ca = "/nonexistent/ca.pem" }, "reading cluster CA"},
		{"lease over heartbeat", func(f *coordinatorFlags) { f.raft.LeaderLease = time.Second },
			"--raft-*-timeout: raft leader lease timeout 1s: must not exceed the heartbeat timeout 300ms"},
		{"etcd cert without key", func(f *coordinatorFlags) { f.etcdTLS = etcdTLSFlags{cert: c.Cert} }, "--etcd-key \"\": set both or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ok
			tc.edit(&f)
			_, err := f.security()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("security() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAPIClientCACert: --ca-cert (or $SANAFARM_CA_CERT) makes the client
// trust a private CA for an https --addr; without it the call fails
// verification, and an unreadable file is a usage error.
func TestAPIClientCACert(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"c1","role":"leader"}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "api").Pair(t)}}
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	f := apiFlags{addr: srv.URL, caCert: ca.File}
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client().Health(ctx); err != nil {
		t.Fatalf("health over https with --ca-cert: %v", err)
	}
	t.Setenv("SANAFARM_CA_CERT", ca.File)
	if _, err := (&apiFlags{addr: srv.URL}).client().Health(ctx); err != nil {
		t.Fatalf("health over https with $SANAFARM_CA_CERT: %v", err)
	}
	t.Setenv("SANAFARM_CA_CERT", "")
	if _, err := (&apiFlags{addr: srv.URL}).client().Health(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("health without the CA: %v, want a certificate error", err)
	}
	bad := apiFlags{addr: srv.URL, caCert: "/nonexistent/ca.pem"}
	if err := bad.check(); err == nil || !strings.Contains(err.Error(), "--ca-cert /nonexistent/ca.pem") {
		t.Fatalf("check with an unreadable --ca-cert: %v", err)
	}
}

// TestCoordinatorSecurityUsageErrors: bad TLS or Raft timeout flags stop
// `sanafarm coordinator` with a usage error (exit 2) naming them, before
// it connects to anything.
func TestCoordinatorSecurityUsageErrors(t *testing.T) {
	base := []string{"coordinator", "--data", t.TempDir(), "--raft-bind", "127.0.0.1:0", "--nats", "nats://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"lease over heartbeat", []string{"--raft-leader-lease-timeout", "1s"}, "leader lease timeout 1s"},
		{"election under heartbeat", []string{"--raft-heartbeat-timeout", "1s", "--raft-leader-lease-timeout", "500ms",
			"--raft-election-timeout", "500ms"}, "election timeout 500ms"},
		{"half the cluster flags", []string{"--cluster-ca", "/x/ca.pem"}, "set all three or none"},
		{"tls key without cert", []string{"--tls-key", "/x/key.pem"}, "set both or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := sanafarm(append(append([]string{}, base...), tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want 2 with %q: %s", code, tc.want, stderr)
			}
		})
	}
}

// TestDevServesHTTPS: `sanafarm dev --tls-cert --tls-key` serves the API
// over HTTPS; clients reach it with --ca-cert and fail without it.
func TestDevServesHTTPS(t *testing.T) {
	ca := tlstest.NewCA(t, "dev CA")
	cert := ca.Server(t, "dev")
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--log-level", "error",
			"--tls-cert", cert.Cert, "--tls-key", cert.Key}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("dev exited %d: %s", code, stderr.String())
		}
	}()
	var addr string
	waitUntil(t, "dev's https API address", func() bool {
		if _, rest, ok := strings.Cut(stdout.String(), "API https://"); ok {
			addr = "https://" + strings.Fields(rest)[0]
		}
		return addr != ""
	})
	if code, out, stderr := sanafarm("nodes", "--addr", addr, "--ca-cert", ca.File); code != 0 {
		t.Fatalf("nodes over https with --ca-cert: exit %d: %s %s", code, out, stderr)
	}
	if code, _, stderr := sanafarm("nodes", "--addr", addr); code != 1 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("nodes over https without the CA: exit %d: %s", code, stderr)
	}
}
