package chaos

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
)

// etcdFullFor is how long etcd-full keeps etcd refusing writes: more than
// two node TTLs, so every node lease is renewed while it is full.
const etcdFullFor = 8 * time.Second

// etcdFull: once a shard is done, fill etcd's database to its quota (the
// NOSPACE alarm: every write refused), keep it so for etcdFullFor, then
// apply the remedy of docs/deploy.md §8 (delete, compact, defragment,
// disarm). The leader's health must name the alarm while it lasts and say
// ok after; the nodes keep their leases and announcements (node/announce.go),
// so no attempt may fail and the job completes whole.
func etcdFull(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	cli := fr.f.etcdClient()
	fr.waitDone(1)
	fr.faultNow()
	ctx, cancel := context.WithTimeout(context.Background(), endBound)
	defer cancel()
	embedtest.FillEtcd(t, ctx, cli)
	full := time.Now()
	fr.waitHealth("the leader's health naming NOSPACE", func(etcd string) bool { return strings.HasPrefix(etcd, "alarm NOSPACE") })
	r.Note("alarm shown", time.Since(full))
	time.Sleep(etcdFullFor - time.Since(full))
	embedtest.FreeEtcd(t, ctx, cli)
	freed := time.Now()
	fr.waitHealth("the leader's health ok again", func(etcd string) bool { return etcd == "ok" })
	r.Note("ok again", time.Since(freed))
	for _, tk := range fr.finish() {
		for _, f := range tk.Failures {
			t.Errorf("shard %d attempt %d failed on %s: %s (etcd refused writes; the nodes were alive all along)", tk.Shard, f.Attempt, f.Node, f.Reason)
		}
	}
}

// waitHealth waits until the leader's /v1/health etcd field satisfies ok.
func (fr *farmRun) waitHealth(what string, ok func(etcd string) bool) {
	fr.t.Helper()
	fr.f.waitUntil(time.Minute, what, func() bool {
		l := fr.f.Leader()
		if l == nil {
			return false
		}
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h, err := l.API.Health(hctx)
		return err == nil && ok(h.Etcd)
	}, fr.f.AllProcs()...)
}

// etcdClient is a client of the farm's etcd with the coordinators'
// certificate, closed when the test ends.
func (f *Farm) etcdClient() *clientv3.Client {
	f.t.Helper()
	tc, err := transport.TLSInfo{CertFile: f.srv.Cert, KeyFile: f.srv.Key, TrustedCAFile: f.CA.File}.ClientConfig()
	if err != nil {
		f.t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + f.etcdAddr}, TLS: tc,
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { cli.Close() })
	return cli
}
