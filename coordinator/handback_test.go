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
