// Package embedtest starts the embedded etcd and NATS servers of package
// embedded for tests, with cleanup registered on the test. (The real
// servers, not fakes: docs/architecture.md §4.)
package embedtest

import (
	"testing"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/embedded"
)

// Etcd starts a single-member etcd in t.TempDir() and returns a client;
// both are closed when the test ends.
func Etcd(t testing.TB) *clientv3.Client {
	t.Helper()
	e, err := embedded.StartEtcd(t.Context(), embedded.EtcdConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := e.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// NATS starts a NATS server on a free loopback port (maxPayload 0 = the
// default 1 MiB) and returns its client URL; it stops when the test ends.
func NATS(t testing.TB, maxPayload int32) string {
	t.Helper()
	n, err := embedded.StartNATS(embedded.NATSConfig{MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n.URL()
}

// Conn connects to url; the connection closes when the test ends.
func Conn(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
