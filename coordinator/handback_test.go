package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestHandBackOncePerIncarnation: a node incarnation that handed a shard
// back gets no new work (a hand-back costs no attempt, so it must not be
// repeatable by one process); a restarted node (a new StartedAt) does.
func TestHandBackOncePerIncarnation(t *testing.T) {
	f := newDrainFixture(t, nil, "n")
	started := time.Now().Add(-time.Minute).UTC()
	lease := func(at time.Time) []protocol.Assignment { return leaseStarted(t, f.srv, "n", at) }
	as := lease(started)
	if len(as) != 1 {
		t.Fatalf("first lease: %d assignments", len(as))
	}
	if as2 := lease(started); len(as2) != 1 {
		t.Fatalf("second lease before any hand-back: %d assignments, want 1", len(as2))
	}
	f.report("n", as[0], protocol.ReasonDraining)
	if got := lease(started); len(got) != 0 {
		t.Fatalf("the incarnation that handed back got %d new leases, want none", len(got))
	}
	if got := lease(started.Add(time.Second)); len(got) != 1 {
		t.Fatalf("the restarted node got %d leases, want 1", len(got))
	}
}

// TestLateHandBackOfOldProcess: a hand-back names the process that sent
// it (CompleteReport.StartedAt), so one of the old process that reaches
// the leader after the new process is known holds off the old process
// only. Here the leader knows the new process from its etcd announcement
// alone (as after a leader change: no restart pending), so the old
// process's attempt is still current when its hand-back arrives.
func TestLateHandBackOfOldProcess(t *testing.T) {
	f := newDrainFixture(t, nil, "n")
	old := time.Now().Add(-time.Minute).UTC()
	cur := old.Add(30 * time.Second)
	as := leaseStarted(t, f.srv, "n", old)
	if len(as) != 1 {
		t.Fatalf("old process: %d leases", len(as))
	}
	f.srv.nodes.incMu.Lock()
	f.srv.nodes.recordLocked(protocol.NodeInfo{ID: "n", StartedAt: cur})
	f.srv.nodes.incMu.Unlock()
	ack := f.srv.Complete(context.Background(), protocol.CompleteReport{TaskKey: as[0].Task.TaskKey, Node: "n",
		Attempt: as[0].Task.Attempt, Error: protocol.ReasonDraining, StartedAt: old})
	if ack.Error != nil {
		t.Fatalf("the old process's hand-back: %v", ack.Error)
	}
	if got := leaseStarted(t, f.srv, "n", cur); len(got) != 1 {
		t.Fatalf("the new process after the old one's hand-back got %d leases, want 1", len(got))
	}
	if got := leaseStarted(t, f.srv, "n", old); len(got) != 0 {
		t.Fatalf("the old process after its hand-back got %d leases, want none", len(got))
	}
}

// leaseStarted asks for one task as node id's process started at at.
func leaseStarted(t *testing.T, srv *Server, id string, at time.Time) []protocol.Assignment {
	t.Helper()
	rep := srv.Lease(context.Background(), protocol.LeaseRequest{Free: 1,
		Node: protocol.NodeInfo{ID: id, Backend: "cpu", Slots: 8, StartedAt: at}})
	if rep.Error != nil {
		t.Fatal(rep.Error)
	}
	return rep.Assignments
}

// TestRefusalJudgedByLeader: a node's refusal of a grant is judged by the
// leader's own check of it. A grant the leader finds invalid too (a job an
// older release accepted under looser rules) counts against the shard, so
// the job ends with the node's reason, and strikes nobody; a valid grant
// refused (a node of a newer release, a faulty one) is the node's fault:
// struck, the attempt not counted, the shard queued for another node.
func TestRefusalJudgedByLeader(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	announce(t, c.etcd, "n")
	waitFor(t, 5*time.Second, "the node in the view", func() bool { return len(srv.nodes.all()) == 1 })
	f := &drainFixture{t: t, srv: srv}
	ctx := context.Background()
	refuse := func(job protocol.JobID) protocol.Task {
		t.Helper()
		as := f.lease("n", 1)
		if len(as) != 1 || as[0].Task.Job != job {
			t.Fatalf("lease: %+v, want one shard of %s", as, job)
		}
		f.report("n", as[0], protocol.ReasonRefused+": spec.steps: 1001: want 1..1000")
		tk, _ := srv.Store().TaskByKey(as[0].Task.TaskKey)
		return tk
	}

	bad := testSpec(2)
	bad.Steps, bad.MaxAttempts = protocol.MaxSteps+1, 1
	typ, sub := srv.submitCommand(ctx, protocol.Job{ID: "j-bad", Spec: bad})
	if _, err := srv.apply(ctx, typ, sub); err != nil {
		t.Fatal(err)
	}
	tk := refuse("j-bad")
	if j, _ := srv.Store().JobByID("j-bad"); j.State != protocol.JobFailed || len(tk.Failures) != 1 || tk.Failures[0].NodeFault {
		t.Errorf("invalid grant refused: job %s, failures %+v; want failed on one counted failure", j.State, tk.Failures)
	}
	if n := srv.Store().View().FailuresOn("j-bad", "n"); n != 0 {
		t.Errorf("%d strikes for refusing an invalid grant, want 0", n)
	}

	good := testSpec(2)
	good.MaxAttempts = 1
	if _, err := srv.SubmitJob(ctx, "j-good", good); err != nil {
		t.Fatal(err)
	}
	tk = refuse("j-good")
	if tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || !tk.Failures[0].NodeFault {
		t.Errorf("valid grant refused: shard %s, failures %+v; want queued on the node's fault", tk.State, tk.Failures)
	}
	if n := srv.Store().View().FailuresOn("j-good", "n"); n != 1 {
		t.Errorf("%d strikes for refusing a valid grant, want 1", n)
	}
}
