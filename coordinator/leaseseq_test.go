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
	f := newLeaseFixture(t, "j-overtaken", 8)
	if r := f.lease(5, 1); len(r.Assignments) != 1 {
		t.Fatalf("request 5: %+v", r)
	}
	if r := f.lease(4, 1); len(r.Assignments) != 0 {
		t.Fatalf("request 4, handled after 5: granted %+v", r.Assignments)
	}
	r := f.lease(6, 1)
	if len(r.Assignments) != 1 {
		t.Fatalf("request 6: %+v", r)
	}
	a := r.Assignments[0]
	f.srv.seqs.overtaken(f.node, 7, time.Now()) // request 7 arrives while 6 commits
	granted := []protocol.TaskNext{{TaskKey: a.Task.TaskKey, Attempt: a.Task.Attempt, Deadline: a.Deadline}}
	if !f.srv.dropOvertaken(context.Background(), protocol.LeaseRequest{Node: f.node, Seq: 6}, granted, true) {
		t.Fatal("a grant for an overtaken request was kept")
	}
	if tk := f.task(a); tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || tk.Failures[0].Reason != reasonReplyLost {
		t.Errorf("overtaken grant: %s failures %+v", tk.State, tk.Failures)
	}
	if n := f.srv.Store().View().FailuresOn(f.job.ID, "n1"); n != 0 {
		t.Errorf("n1 has %d strikes", n)
	}
}
