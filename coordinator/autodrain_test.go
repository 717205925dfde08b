package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// drainFixture is a one-voter leader with two jobs of 4 shards and live
// nodes announced in etcd; nodes lease and report directly.
type drainFixture struct {
	t   *testing.T
	srv *Server
}

func newDrainFixture(t *testing.T, tweak func(*Config), nodes ...string) *drainFixture {
	c := startCluster(t, 1, tweak)
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	for _, id := range nodes {
		announce(t, c.etcd, id)
	}
	waitFor(t, 5*time.Second, "nodes in the node view", func() bool { return len(srv.nodes.all()) == len(nodes) })
	for _, id := range []protocol.JobID{"j-a", "j-b"} {
		if _, err := srv.SubmitJob(context.Background(), id, testSpec(8)); err != nil {
			t.Fatal(err)
		}
	}
	return &drainFixture{t: t, srv: srv}
}

// lease asks for free tasks as node.
func (f *drainFixture) lease(node string, free int) []protocol.Assignment {
	f.t.Helper()
	rep := f.srv.Lease(context.Background(), protocol.LeaseRequest{Node: protocol.NodeInfo{ID: node, Backend: "cpu", Slots: 8}, Free: free})
	if rep.Error != nil {
		f.t.Fatalf("lease as %s: %v", node, rep.Error)
	}
	return rep.Assignments
}

// report ends an assignment as node: failed with msg, or done when msg is "".
func (f *drainFixture) report(node string, a protocol.Assignment, msg string) {
	f.t.Helper()
	rep := protocol.CompleteReport{TaskKey: a.Task.TaskKey, Node: node, Attempt: a.Task.Attempt, Error: msg}
	if msg == "" {
		rep.Result = &protocol.ShardInfo{Node: node, Images: int(a.Task.End - a.Task.Start)}
	}
	if ack := f.srv.Complete(context.Background(), rep); ack.Error != nil {
		f.t.Fatalf("%s reporting %s: %v", node, a.Task.TaskKey, ack.Error)
	}
}

// failShards has node lease and fail n shards, one at a time.
func (f *drainFixture) failShards(node string, n int) {
	f.t.Helper()
	for range n {
		as := f.lease(node, 1)
		if len(as) != 1 {
			f.t.Fatalf("%s got %d leases, want 1", node, len(as))
		}
		f.report(node, as[0], "cuda: an illegal memory access was encountered")
	}
}

// completeAll has node lease and complete every queued shard.
func (f *drainFixture) completeAll(node string) {
	f.t.Helper()
	for _, a := range f.lease(node, 16) {
		f.report(node, a, "")
	}
}

func (f *drainFixture) control(node string) protocol.NodeControl {
	c, _ := f.srv.Store().NodeControl(node)
	return c
}

// TestAutoDrain: a node whose failed shards then complete on another node
// is drained by the leader, with the reason; it gets no lease until the
// operator undrains it.
func TestAutoDrain(t *testing.T) {
	f := newDrainFixture(t, nil, "bad", "good", "spare", "other")
	f.failShards("bad", 3) // two of j-a (then blocklisted there), one of j-b
	var warned time.Time
	f.srv.autoDrain(context.Background(), &warned)
	if f.control("bad").Drain {
		t.Fatal("drained before any of its failed shards succeeded elsewhere")
	}
	f.completeAll("good")
	f.srv.autoDrain(context.Background(), &warned)
	c := f.control("bad")
	if !c.Drain || !c.Auto || c.Disable {
		t.Fatalf("control of bad: %+v, want an automatic drain", c)
	}
	for _, want := range []string{"3 shards in a row", "illegal memory access"} {
		if !strings.Contains(c.Reason, want) {
			t.Errorf("reason %q lacks %q", c.Reason, want)
		}
	}
	if g := f.control("good"); g.Drain {
		t.Errorf("good drained: %+v", g)
	}
	if _, err := f.srv.SubmitJob(context.Background(), "j-c", testSpec(4)); err != nil {
		t.Fatal(err)
	}
	if as := f.lease("bad", 1); len(as) != 0 {
		t.Errorf("an auto-drained node got %d leases", len(as))
	}
	if _, err := f.srv.DrainNode(context.Background(), "bad", false, false); err != nil {
		t.Fatal(err)
	}
	if as := f.lease("bad", 1); len(as) != 1 {
		t.Errorf("undrained node got %d leases, want 1", len(as))
	}
	f.srv.autoDrain(context.Background(), &warned)
	if f.control("bad").Drain {
		t.Error("drained again for the failures before its undrain")
	}
}

// TestAutoDrainSpares: failures of shards that fail on every node (the
// job's fault) drain nobody; an operator's disable is not replaced; and
// no more than a quarter of the live nodes (at least one) stand
// auto-drained at once; AutoDrainAfter < 0 turns it off.
func TestAutoDrainSpares(t *testing.T) {
	t.Run("job's fault", func(t *testing.T) {
		f := newDrainFixture(t, nil, "a", "b")
		f.failShards("a", 3)
		f.failShards("b", 3)
		var warned time.Time
		f.srv.autoDrain(context.Background(), &warned)
		if f.control("a").Drain || f.control("b").Drain {
			t.Errorf("drained for shards no node could render: a %+v, b %+v", f.control("a"), f.control("b"))
		}
	})
	t.Run("operator's disable", func(t *testing.T) {
		f := newDrainFixture(t, nil, "bad", "good")
		f.failShards("bad", 3)
		if _, err := f.srv.DrainNode(context.Background(), "bad", true, true); err != nil {
			t.Fatal(err)
		}
		f.completeAll("good")
		f.srv.fsm.health.failed("bad", failedShard{key: protocol.TaskKey{Job: "j-a", Shard: 0}, proven: true})
		f.srv.fsm.health.failed("bad", failedShard{key: protocol.TaskKey{Job: "j-a", Shard: 1}, proven: true})
		f.srv.fsm.health.failed("bad", failedShard{key: protocol.TaskKey{Job: "j-b", Shard: 0}, proven: true})
		var warned time.Time
		f.srv.autoDrain(context.Background(), &warned)
		if c := f.control("bad"); !c.Disable || c.Auto {
			t.Errorf("control of bad %+v, want the operator's disable", c)
		}
	})
	t.Run("off", func(t *testing.T) {
		f := newDrainFixture(t, func(c *Config) { c.AutoDrainAfter = -1 }, "bad", "good")
		f.failShards("bad", 3)
		f.completeAll("good")
		var warned time.Time
		f.srv.autoDrain(context.Background(), &warned)
		if c := f.control("bad"); c.Drain {
			t.Errorf("drained with auto-drain off: %+v", c)
		}
	})
	t.Run("cap", func(t *testing.T) {
		f := newDrainFixture(t, nil, "x", "y", "good")
		f.failShards("x", 3)
		f.failShards("y", 3)
		f.completeAll("good")
		var warned time.Time
		f.srv.autoDrain(context.Background(), &warned)
		if x, y := f.control("x"), f.control("y"); !x.Auto || y.Drain {
			t.Errorf("x %+v, y %+v: want x auto-drained and y held back (1 of 3 live nodes)", x, y)
		}
		if warned.IsZero() {
			t.Error("the cap held y back without a warning")
		}
	})
}

// TestHandBackNoStrike: shards a stopping node hands back ("draining")
// are requeued without a strike, so nodes drained again and again during
// a long job (rolling upgrades, preemptions) are neither blocklisted for
// it nor auto-drained; a real failure still strikes.
func TestHandBackNoStrike(t *testing.T) {
	f := newDrainFixture(t, nil, "n", "good")
	for range 3 {
		as := f.lease("n", 1)
		if len(as) != 1 {
			t.Fatalf("n got %d leases after hand-backs, want 1 (blocklisted?)", len(as))
		}
		f.report("n", as[0], protocol.ReasonDraining)
		if tk, _ := f.srv.Store().TaskByKey(as[0].Task.TaskKey); tk.State != protocol.TaskQueued {
			t.Fatalf("handed-back shard %s is %s, want queued", as[0].Task.TaskKey, tk.State)
		}
	}
	strikes := func() int {
		return f.srv.Store().View().FailuresOn("j-a", "n") + f.srv.Store().View().FailuresOn("j-b", "n")
	}
	if n := strikes(); n != 0 {
		t.Errorf("%d strikes for hand-backs, want 0", n)
	}
	f.failShards("n", 1)
	if n := strikes(); n != 1 {
		t.Errorf("%d strikes after a real failure, want 1", n)
	}
	f.completeAll("good") // proves every shard n failed or handed back
	var warned time.Time
	f.srv.autoDrain(context.Background(), &warned)
	if c := f.control("n"); c.Drain {
		t.Errorf("drained for hand-backs and one failure: %+v", c)
	}
}
