package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestGoneNodeStillReporting: a node's etcd key vanishes (a hung or
// restarted etcd expires every announcement at once) while the node keeps
// reporting progress over NATS. Its leases stay; once it registers again
// it is live. When it then goes for real (key gone, no more progress), its
// leases are requeued as "node lost" after goneGrace, without a strike.
func TestGoneNodeStillReporting(t *testing.T) {
	const ttl = 2 * time.Second // goneGrace 1 s
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = ttl; cfg.ProgressInterval = 50 * time.Millisecond })
	c.serving(10 * time.Second)
	srv := c.members[0].srv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job, err := srv.SubmitJob(ctx, "j-gone-alive", testSpec(8))
	if err != nil {
		t.Fatal(err)
	}
	announce(t, c.etcd, "n1")
	waitFor(t, 5*time.Second, "n1 live", func() bool { return len(srv.Nodes()) == 1 && srv.Nodes()[0].Live })
	time.Sleep(leaseStrikeWindow*ttl + ttl) // past the post-election grace
	nc := connectNATS(t, c.natsURL)
	held := leaseN(t, nc, "n1", 2)
	// A report for another node's lease is refused and proves nothing
	// about either node; the holder's own report is what is heard.
	heard := func(id string) bool {
		srv.nodes.mu.RLock()
		defer srv.nodes.mu.RUnlock()
		_, ok := srv.nodes.heard[id]
		return ok
	}
	for _, c := range []struct {
		node      string
		refused   bool
		heardHold bool
	}{{"forged", true, false}, {"n1", false, true}} {
		var ack protocol.Ack
		mustRequest(t, nc, protocol.SubjectProgress, protocol.ProgressReport{TaskKey: held[0].Task.TaskKey, Node: c.node,
			Attempt: held[0].Task.Attempt, Done: 1}, &ack)
		if (ack.Error != nil) != c.refused || heard("forged") || heard("n1") != c.heardHold {
			t.Errorf("progress claiming node %q: ack %+v, claim recorded %v, holder recorded %v", c.node, ack, heard("forged"), heard("n1"))
		}
		if c.refused && protocol.CodeOf(ack.Error) != protocol.CodeStaleAttempt {
			t.Errorf("progress from a non-holder: %v, want %s", ack.Error, protocol.CodeStaleAttempt)
		}
	}
	hctx, stopHeartbeat := context.WithCancel(ctx)
	go heartbeat(hctx, nc, "n1", held)

	if _, err := c.etcd.Delete(ctx, protocol.NodeKey("n1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 gone from the view", func() bool { return srv.nodes.isGone("n1") })
	time.Sleep(3 * srv.goneGrace())
	checkHeld(t, srv, held, "n1")
	announce(t, c.etcd, "n1") // the agent registers again once etcd answers
	waitFor(t, 5*time.Second, "n1 live again", func() bool { return !srv.nodes.isGone("n1") })

	stopHeartbeat()
	if _, err := c.etcd.Delete(ctx, protocol.NodeKey("n1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a dead n1's leases requeued", func() bool { return len(srv.Store().LeasesByNode()["n1"]) == 0 })
	checkHeld(t, srv, held, "")
	if n := srv.Store().View().FailuresOn(job.ID, "n1"); n != 0 {
		t.Errorf("n1 has %d strikes for being lost", n)
	}
}

// checkHeld asserts each assignment's task is still leased to node with
// no failure, or (node "") requeued once as "node lost".
func checkHeld(t *testing.T, srv *Server, as []protocol.Assignment, node string) {
	t.Helper()
	for _, a := range as {
		tk, _ := srv.Store().TaskByKey(a.Task.TaskKey)
		leased := node != "" && tk.State == protocol.TaskLeased && tk.Assignee == node && len(tk.Failures) == 0
		lost := node == "" && tk.State == protocol.TaskQueued && len(tk.Failures) == 1 && tk.Failures[0].Reason == "node lost"
		if !leased && !lost {
			t.Errorf("shard %d: state %s assignee %q attempt %d failures %+v", tk.Shard, tk.State, tk.Assignee, tk.Attempt, tk.Failures)
		}
	}
}
