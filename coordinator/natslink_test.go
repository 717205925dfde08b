package coordinator

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestLeaderNATSOutageNoStrike: the leader's own NATS link goes down for
// several lease TTLs — cut (the connection drops: a NATS outage) or frozen
// (the connection stays up and carries nothing: a hung NATS server, noticed
// only by the silence) — while a live node (announced in etcd, still
// sending progress) holds two shards. No node progress can reach the
// leader, so the outage is the control plane's: the leases must not expire
// against the node meanwhile (which would blocklist every node of a long
// job after a NATS outage), and once the link is back the node's progress
// keeps them. A node that died meanwhile is still requeued through etcd.
func TestLeaderNATSOutageNoStrike(t *testing.T) {
	for _, mode := range []string{"cut", "frozen"} {
		t.Run(mode, func(t *testing.T) { leaderNATSOutage(t, mode == "frozen") })
	}
}

func leaderNATSOutage(t *testing.T, frozen bool) {
	const ttl = 400 * time.Millisecond
	var link *embedtest.Proxy
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.LeaseTTL = ttl
		cfg.ProgressInterval = 50 * time.Millisecond
		u, err := url.Parse(cfg.NATS.ConnectedUrl())
		if err != nil {
			t.Fatal(err)
		}
		link = embedtest.StartProxy(t, u.Host)
		nc, err := nats.Connect("nats://"+link.Addr(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		cfg.NATS = nc
	})
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job, err := srv.SubmitJob(ctx, "j-natslink", testSpec(8)) // 4 shards
	if err != nil {
		t.Fatal(err)
	}
	announce(t, c.etcd, "n1")
	announce(t, c.etcd, "n2")
	waitFor(t, 5*time.Second, "two live nodes", func() bool { return len(srv.Nodes()) == 2 })
	time.Sleep(leaseStrikeWindow*ttl + ttl) // past the post-election grace
	nc := connectNATS(t, c.natsURL)
	held := leaseN(t, nc, "n1", 2)
	go heartbeat(ctx, nc, "n1", held)
	dead := leaseN(t, nc, "n2", 1) // n2 dies during the outage: no heartbeat

	down, up := link.Cut, link.Restore
	if frozen {
		down, up = link.Freeze, link.Thaw
	}
	down()
	time.Sleep(4 * ttl)
	if _, err := c.etcd.Delete(ctx, protocol.NodeKey("n2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n2's shard requeued while the link is down", func() bool {
		tk, _ := srv.Store().TaskByKey(dead[0].Task.TaskKey)
		return tk.State == protocol.TaskQueued
	})
	if tk, _ := srv.Store().TaskByKey(dead[0].Task.TaskKey); len(tk.Failures) != 1 || tk.Failures[0].Reason != "node lost" {
		t.Errorf("the dead node's shard: failures %+v, want one \"node lost\" (through etcd)", tk.Failures)
	}
	up()
	waitFor(t, 5*time.Second, "the leader's NATS link back", func() bool { return srv.cfg.NATS.Status() == nats.CONNECTED })
	time.Sleep(3 * ttl) // the node's progress must keep its leases now
	for _, a := range held {
		tk, _ := srv.Store().TaskByKey(a.Task.TaskKey)
		if tk.State != protocol.TaskLeased || tk.Assignee != "n1" || tk.Attempt != 1 || len(tk.Failures) != 0 {
			t.Errorf("shard %d after the leader's NATS outage: state %s assignee %q attempt %d failures %+v",
				tk.Shard, tk.State, tk.Assignee, tk.Attempt, tk.Failures)
		}
	}
	if n := srv.Store().View().FailuresOn(job.ID, "n1"); n != 0 {
		t.Errorf("n1 has %d strikes from the leader's NATS outage", n)
	}
}

// heartbeat reports progress on as every 50 ms until ctx ends, as a live
// node does (failures — no responders while the leader is cut off — are
// ignored, as the agent ignores them).
func heartbeat(ctx context.Context, nc *nats.Conn, node string, as []protocol.Assignment) {
	for ctx.Err() == nil {
		for _, a := range as {
			var ack protocol.Ack
			_ = request(ctx, nc, protocol.SubjectProgress,
				protocol.ProgressReport{TaskKey: a.Task.TaskKey, Node: node, Attempt: a.Task.Attempt, Done: 1}, &ack)
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
}
