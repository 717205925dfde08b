package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestForgedRestartIgnored: an etcd announcement of a node with a later
// StartedAt, written by someone else while the node keeps reporting
// progress on its leases over NATS, requeues nothing (anyone with a
// worker's etcd certificate may write it, docs/deploy.md §9); the node's
// own lease requests still count as its own incarnation.
func TestForgedRestartIgnored(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = 4 * time.Second }) // goneGrace 2 s
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-forged", testSpec(8)); err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	n1 := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 2, StartedAt: started}
	put := func(n protocol.NodeInfo) { announceInfo(t, c.etcd, n) }
	put(n1)
	waitFor(t, 5*time.Second, "n1 in the node view", func() bool { return len(srv.Nodes()) == 1 })
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: n1, Free: 2})
	if r.Error != nil || len(r.Assignments) != 2 {
		t.Fatalf("lease: %+v", r)
	}
	forged := n1
	forged.StartedAt = started.Add(30 * time.Minute)
	put(forged)
	// The real n1 keeps working: progress on both leases, past the grace.
	for end := time.Now().Add(2 * srv.goneGrace()); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, a := range r.Assignments {
			if ack := srv.Progress(protocol.ProgressReport{TaskKey: a.Task.TaskKey, Node: "n1", Attempt: a.Task.Attempt, Done: 1}); ack.Error != nil {
				t.Fatalf("progress of the real n1: %v (its leases were requeued for a forged restart)", ack.Error)
			}
		}
	}
	for _, a := range r.Assignments {
		if tk, _ := srv.Store().TaskByKey(a.Task.TaskKey); tk.State != protocol.TaskLeased || tk.Attempt != a.Task.Attempt || len(tk.Failures) != 0 {
			t.Errorf("task %s after a forged restart: %+v", a.Task.TaskKey, tk)
		}
	}
}

// TestRestartAcrossLeaderChange: a restart announced while this
// coordinator led, whose new process then leased elsewhere (its pending
// restart forgotten with the leadership), leaves no stale record behind: a
// later lease request of the new process keeps its leases.
func TestRestartAcrossLeaderChange(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = time.Hour })
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-change", testSpec(8)); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	a := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 2, StartedAt: t1}
	b := a
	b.StartedAt = t1.Add(time.Minute)
	announceInfo(t, c.etcd, a)
	waitFor(t, 5*time.Second, "n1 in the node view", func() bool { return len(srv.Nodes()) == 1 })
	announceInfo(t, c.etcd, b)
	waitFor(t, 5*time.Second, "the restart recorded", func() bool {
		srv.nodes.incMu.Lock()
		defer srv.nodes.incMu.Unlock()
		return srv.nodes.started["n1"].Equal(b.StartedAt)
	})
	srv.restarts.reset() // what losing the leadership does
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: b, Free: 1})
	if r.Error != nil || len(r.Assignments) != 1 {
		t.Fatalf("the new process's lease: %+v", r)
	}
	if r2 := srv.Lease(ctx, protocol.LeaseRequest{Node: b, Free: 1}); r2.Error != nil {
		t.Fatal(r2.Error)
	}
	if tk, _ := srv.Store().TaskByKey(r.Assignments[0].Task.TaskKey); tk.State != protocol.TaskLeased || len(tk.Failures) != 0 {
		t.Fatalf("the new process's lease after its next request: %+v (requeued for a restart it made before?)", tk)
	}
}

// TestForgedRestartAcrossElection: a forged restart announced while one
// coordinator led, which then lost the leadership (stopped: a real
// election), is not acted on by the new leader either while the real
// node keeps reporting to it; the node's own lease requests still count.
func TestForgedRestartAcrossElection(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.LeaseTTL = 4 * time.Second }) // goneGrace 2 s
	first := c.leader(10 * time.Second)
	srv := c.members[first].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-forged-election", testSpec(8)); err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	n1 := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 1, StartedAt: started}
	announceInfo(t, c.etcd, n1)
	for _, m := range c.members {
		waitFor(t, 5*time.Second, "n1 in every node view", func() bool { return len(m.srv.Nodes()) == 1 })
	}
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: n1, Free: 1})
	if r.Error != nil || len(r.Assignments) != 1 {
		t.Fatalf("lease: %+v", r)
	}
	a := r.Assignments[0]
	forged := n1
	forged.StartedAt = started.Add(30 * time.Minute)
	announceInfo(t, c.etcd, forged)
	time.Sleep(200 * time.Millisecond) // the leader sees it and waits for NATS to agree
	c.stop(first)
	next := c.leader(15 * time.Second)
	srv = c.members[next].srv
	for end := time.Now().Add(3 * srv.goneGrace()); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		ack := srv.Progress(protocol.ProgressReport{TaskKey: a.Task.TaskKey, Node: "n1", Attempt: a.Task.Attempt, Done: 1})
		if ack.Error != nil && protocol.CodeOf(ack.Error) != protocol.CodeNotLeader {
			t.Fatalf("progress of the real n1 to the new leader: %v (requeued for a forged restart?)", ack.Error)
		}
	}
	if tk, _ := srv.Store().TaskByKey(a.Task.TaskKey); tk.State != protocol.TaskLeased || tk.Attempt != a.Task.Attempt || len(tk.Failures) != 0 {
		t.Fatalf("task after a forged restart and an election: %+v", tk)
	}
	// The real restart: the new process asks for work, and the old
	// process's lease goes back (without counting against the shard).
	real := n1
	real.StartedAt = started.Add(40 * time.Minute)
	announceInfo(t, c.etcd, real)
	waitFor(t, 5*time.Second, "the new leader records the restart", func() bool {
		srv.nodes.incMu.Lock()
		defer srv.nodes.incMu.Unlock()
		return srv.nodes.started["n1"].Equal(real.StartedAt)
	})
	if rep := srv.Lease(ctx, protocol.LeaseRequest{Node: real, Free: 1}); rep.Error != nil {
		t.Fatal(rep.Error)
	}
	if tk, _ := srv.Store().TaskByKey(a.Task.TaskKey); tk.Attempt == a.Task.Attempt && tk.State == protocol.TaskLeased {
		t.Fatalf("the old process's lease survived its node's restart: %+v", tk)
	}
}
