package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/internal/syncbuf"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestAnnouncementOutlivesFullEtcd: when etcd refuses writes (its
// database at its quota: NOSPACE) a changed announcement cannot be
// written; the registered one stands under its live lease (before, the
// node revoked its lease, etcd refused a new one, and the leader counted
// the working node gone), and once etcd has room again the change lands.
func TestAnnouncementOutlivesFullEtcd(t *testing.T) {
	cli := embedtest.EtcdQuota(t, 4<<20)
	const ttl = 2 * time.Second
	var logs syncbuf.Buffer
	ann := NewEtcdAnnouncer(cli, ttl, slog.New(slog.NewTextHandler(&logs, nil)))
	var mu sync.Mutex
	info := protocol.NodeInfo{ID: "n7", Slots: 1}
	changed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ann.Announce(ctx, func() protocol.NodeInfo { mu.Lock(); defer mu.Unlock(); return info }, changed)
	}()
	announced := func() (protocol.NodeInfo, clientv3.LeaseID) {
		t.Helper()
		resp, err := cli.Get(ctx, protocol.NodeKey("n7"))
		if err != nil || len(resp.Kvs) != 1 {
			return protocol.NodeInfo{}, 0
		}
		var got protocol.NodeInfo
		if err := json.Unmarshal(resp.Kvs[0].Value, &got); err != nil {
			t.Fatal(err)
		}
		return got, clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	var lease clientv3.LeaseID
	waitFor(t, 5*time.Second, "the announcement", func() bool { _, lease = announced(); return lease != 0 })

	embedtest.FillEtcd(t, ctx, cli)
	mu.Lock()
	info.Models = []string{"sana-tiny"}
	mu.Unlock()
	changed <- struct{}{}
	time.Sleep(ttl + ttl/2) // the update is tried at once; a lease revoked on its failure would be gone by now
	if got, l := announced(); l != lease || got.ID != "n7" || len(got.Models) != 0 {
		t.Fatalf("with etcd full: announced %+v under lease %x, want the registered one under %x", got, l, lease)
	}
	if !strings.Contains(logs.String(), "updating the node announcement failed") {
		t.Errorf("no warning of the failed update:\n%s", logs.String())
	}

	embedtest.FreeEtcd(t, ctx, cli)
	waitFor(t, 3*ttl, "the update once etcd has room", func() bool {
		got, l := announced()
		return l == lease && slices.Equal(got.Models, []string{"sana-tiny"})
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAnnouncerQuietWhileEtcdFull: a node whose lease is lost while etcd
// refuses writes (a new lease is refused at once) warns that it was lost
// and that registering failed, then retries at debug (before: a warning
// every try); once etcd has room it registers again.
func TestAnnouncerQuietWhileEtcdFull(t *testing.T) {
	cli := embedtest.EtcdQuota(t, 4<<20)
	var logs syncbuf.Buffer
	ann := NewEtcdAnnouncer(cli, 2*time.Second, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ann.Announce(ctx, func() protocol.NodeInfo { return protocol.NodeInfo{ID: "n8", Slots: 1} }, nil)
	}()
	lease := func() clientv3.LeaseID { return embedtest.KeyLease(ctx, cli, protocol.NodeKey("n8")) }
	var first clientv3.LeaseID
	waitFor(t, 5*time.Second, "the announcement", func() bool { first = lease(); return first != 0 })
	embedtest.FillEtcd(t, ctx, cli)
	if _, err := cli.Revoke(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a failed registration at debug", func() bool {
		return strings.Contains(logs.String(), `level=DEBUG msg="registering the node in etcd failed`)
	})
	time.Sleep(3 * time.Second) // tries every 2 s at most: a warning each would show
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("%d warnings while etcd refused the registration, want 2 (lost, then the first failure):\n%s", n, logs.String())
	}
	embedtest.FreeEtcd(t, ctx, cli)
	waitFor(t, 10*time.Second, "registering again once etcd has room", func() bool { l := lease(); return l != 0 && l != first })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
