package etcdauth

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestClientDialledBeforeAuth: services given their users before
// authentication is on (etcd then ignores them) keep working once
// etcd-auth turns it on — writes, lease keep-alives and a watch opened
// before — so the rollout of docs/deploy.md §3.7 needs no restart after.
func TestClientDialledBeforeAuth(t *testing.T) {
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w0 := client(t, e, "w0", plan.Nodes["w0"])
	co := client(t, e, CoordinatorUser, plan.CoordinatorPassword)
	wch := co.Watch(ctx, protocol.NodePrefix, clientv3.WithPrefix())
	l, err := w0.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(ctx, client(t, e, "", ""), plan); err != nil {
		t.Fatal(err)
	}
	if _, err := w0.Put(ctx, protocol.NodeKey("w0"), "{}", clientv3.WithLease(l.ID)); err != nil {
		t.Fatalf("put after auth enabled: %v", err)
	}
	if _, err := w0.KeepAliveOnce(ctx, l.ID); err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	select {
	case wr := <-wch:
		if wr.Err() != nil || len(wr.Events) != 1 || string(wr.Events[0].Kv.Key) != protocol.NodeKey("w0") {
			t.Fatalf("the coordinator's watch after auth was enabled: %d events, %v", len(wr.Events), wr.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the coordinator's watch saw nothing of w0's announcement")
	}
	if _, err := co.Get(ctx, protocol.NodePrefix, clientv3.WithPrefix()); err != nil {
		t.Fatalf("get: %v", err)
	}
}
