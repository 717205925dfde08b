package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestSeqMarks: a lease request is overtaken by a later one of the same
// incarnation or by any of a later incarnation; unnumbered requests never
// are.
func TestSeqMarks(t *testing.T) {
	m := newSeqMarks()
	t0 := time.Unix(1000, 0)
	at := func(started time.Time) protocol.NodeInfo { return protocol.NodeInfo{ID: "n1", StartedAt: started} }
	for i, c := range []struct {
		started time.Time
		seq     uint64
		want    bool
	}{
		{t0, 1, false},
		{t0, 3, false},
		{t0, 2, true},  // delayed, handled after 3
		{t0, 3, false}, // the same request again is not overtaken by itself
		{t0, 0, false},
		{t0.Add(-time.Minute), 9, true}, // an older process of n1
		{t0.Add(time.Minute), 1, false}, // n1 restarted
		{t0, 5, true},
	} {
		if got := m.overtaken(at(c.started), c.seq, t0); got != c.want {
			t.Errorf("request %d (started %v, seq %d): overtaken %v, want %v", i, c.started.Sub(t0), c.seq, got, c.want)
		}
	}
	if !m.since(at(t0), 4) || m.since(at(t0.Add(time.Minute)), 1) {
		t.Error("since: want the earlier incarnation's request overtaken, the latest request not")
	}
	m.prune(t0.Add(time.Second))
	if len(m.marks) != 0 {
		t.Errorf("after prune: %v", m.marks)
	}
}

// TestOvertakenLeaseRequest: a lease request handled after a later one of
// the same node gets nothing, and a grant committed for a request that
// another overtook meanwhile is requeued at once, without a strike.
func TestOvertakenLeaseRequest(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	job, err := srv.SubmitJob(ctx, "j-overtaken", testSpec(8))
	if err != nil {
		t.Fatal(err)
	}
	node := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 4, StartedAt: time.Now().UTC()}
	lease := func(seq uint64) protocol.LeaseReply {
		t.Helper()
		r := srv.Lease(ctx, protocol.LeaseRequest{Node: node, Free: 1, ListsHolds: true, Seq: seq})
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		return r
	}
	if r := lease(5); len(r.Assignments) != 1 {
		t.Fatalf("request 5: %+v", r)
	}
	if r := lease(4); len(r.Assignments) != 0 {
		t.Fatalf("request 4, handled after 5: granted %+v", r.Assignments)
	}
	r := lease(6)
	if len(r.Assignments) != 1 {
		t.Fatalf("request 6: %+v", r)
	}
	a := r.Assignments[0]
	srv.seqs.overtaken(node, 7, time.Now()) // request 7 arrives while 6 commits
	granted := []protocol.TaskNext{{TaskKey: a.Task.TaskKey, Attempt: a.Task.Attempt, Deadline: a.Deadline}}
	if !srv.dropOvertaken(ctx, protocol.LeaseRequest{Node: node, Seq: 6}, granted, true) {
		t.Fatal("a grant for an overtaken request was kept")
	}
	tk, _ := srv.Store().TaskByKey(a.Task.TaskKey)
	if tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || tk.Failures[0].Reason != reasonReplyLost {
		t.Errorf("overtaken grant: %s failures %+v", tk.State, tk.Failures)
	}
	if n := srv.Store().View().FailuresOn(job.ID, "n1"); n != 0 {
		t.Errorf("n1 has %d strikes", n)
	}
}
