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
	lease := func(at time.Time) []protocol.Assignment {
		t.Helper()
		rep := f.srv.Lease(context.Background(), protocol.LeaseRequest{Free: 1,
			Node: protocol.NodeInfo{ID: "n", Backend: "cpu", Slots: 8, StartedAt: at}})
		if rep.Error != nil {
			t.Fatal(rep.Error)
		}
		return rep.Assignments
	}
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

// TestLateHandBackOfOldProcess: the old process's hand-back, arriving after
// the new process asked for work, holds off the old process only.
func TestLateHandBackOfOldProcess(t *testing.T) {
	f := newDrainFixture(t, nil, "n")
	old := time.Now().Add(-time.Minute).UTC()
	cur := old.Add(30 * time.Second)
	lease := func(at time.Time) []protocol.Assignment {
		t.Helper()
		rep := f.srv.Lease(context.Background(), protocol.LeaseRequest{Free: 1,
			Node: protocol.NodeInfo{ID: "n", Backend: "cpu", Slots: 8, StartedAt: at}})
		if rep.Error != nil {
			t.Fatal(rep.Error)
		}
		return rep.Assignments
	}
	as := lease(old)
	if len(as) != 1 {
		t.Fatalf("old process: %d leases", len(as))
	}
	if got := lease(cur); len(got) != 1 { // the new process starts (the old lease is requeued)
		t.Fatalf("new process: %d leases", len(got))
	}
	// The old process's hand-back of its (already requeued) attempt is
	// stale; one for a current attempt from a late report would be noted
	// against the process that sent it.
	f.srv.noteHandBack("n", old)
	if got := lease(cur); len(got) != 1 {
		t.Fatalf("the new process after the old one's hand-back got %d leases, want 1", len(got))
	}
}
