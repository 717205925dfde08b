// Package embedtest starts the embedded etcd and NATS servers of package
// embedded for tests, with cleanup registered on the test. (The real
// servers, not fakes: docs/architecture.md §4.)
package embedtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/embedded"
)

// Etcd starts a single-member etcd in t.TempDir() and returns a client;
// both are closed when the test ends.
func Etcd(t testing.TB) *clientv3.Client { return EtcdQuota(t, 0) }

// EtcdQuota is Etcd with a database quota of quota bytes (0: etcd's
// 2 GiB), for tests that fill it (FillEtcd).
func EtcdQuota(t testing.TB, quota int64) *clientv3.Client {
	t.Helper()
	e, err := embedded.StartEtcd(t.Context(), embedded.EtcdConfig{Dir: t.TempDir(), QuotaBytes: quota})
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

// FillEtcd writes 1 MiB values under junk/ (etcd takes requests up to
// 1.5 MiB) until etcd refuses them for its quota (the NOSPACE alarm); at
// most 256 of them.
func FillEtcd(t testing.TB, ctx context.Context, cli *clientv3.Client) {
	t.Helper()
	val := strings.Repeat("x", 1<<20)
	for i := range 256 {
		if _, err := cli.Put(ctx, fmt.Sprintf("junk/%03d", i), val); err != nil {
			if strings.Contains(err.Error(), "database space exceeded") {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("etcd took 256 MiB without reaching its quota")
}

// FreeEtcd is the remedy docs/deploy.md §8 gives for a full etcd: delete
// what filled it, compact the history, defragment every member, disarm.
func FreeEtcd(t testing.TB, ctx context.Context, cli *clientv3.Client) {
	t.Helper()
	del, err := cli.Delete(ctx, "junk/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for _, ep := range cli.Endpoints() {
		if _, err := cli.Defragment(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alarms.Alarms {
		if _, err := cli.AlarmDisarm(ctx, (*clientv3.AlarmMember)(a)); err != nil {
			t.Fatal(err)
		}
	}
}

// KeyLease is the lease key is bound to in cli's etcd; 0 when there is no
// such key (or etcd did not answer).
func KeyLease(ctx context.Context, cli *clientv3.Client, key string) clientv3.LeaseID {
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		return 0
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}
