package coordinator

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/internal/syncbuf"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestRegisterAPIQuietWhileEtcdFull: a coordinator whose registration is
// lost while etcd refuses writes (NOSPACE: a new lease is refused at once)
// warns that it was lost and that registering again failed, then backs
// off quietly (before: a warning every second for as long as it lasted);
// once etcd has room it registers again.
func TestRegisterAPIQuietWhileEtcdFull(t *testing.T) {
	cli := embedtest.EtcdQuota(t, 4<<20)
	var logs syncbuf.Buffer
	s := &Server{cfg: Config{ID: "c1", Etcd: cli}, advertise: "https://c1.example:7700",
		log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.registerAPI(ctx) }()
	defer func() { cancel(); <-done }()
	lease := func() clientv3.LeaseID { return embedtest.KeyLease(ctx, cli, protocol.CoordinatorKey("c1")) }
	var first clientv3.LeaseID
	waitFor(t, 5*time.Second, "the registration", func() bool { first = lease(); return first != 0 })

	embedtest.FillEtcd(t, ctx, cli)
	if _, err := cli.Revoke(ctx, first); err != nil { // lost, as to an etcd restart past its TTL
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a failed registration logged at debug", func() bool {
		return strings.Contains(logs.String(), "level=DEBUG msg=\"registering this coordinator's api address in etcd failed")
	})
	time.Sleep(3 * time.Second) // a warning a second would show now
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("%d warnings while etcd refused the registration, want 2 (lost, then the first failure):\n%s", n, logs.String())
	}
	embedtest.FreeEtcd(t, ctx, cli)
	waitFor(t, 2*registrationTTL*time.Second, "registering again once etcd has room", func() bool {
		l := lease()
		return l != 0 && l != first
	})
}
