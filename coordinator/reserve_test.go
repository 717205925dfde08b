package coordinator

import (
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

type fakeSchedState struct{ queued []protocol.Task }

func (f fakeSchedState) ActiveJobs() []protocol.Job            { return []protocol.Job{{ID: "j"}} }
func (f fakeSchedState) FailuresOn(protocol.JobID, string) int { return 0 }
func (f fakeSchedState) LeasedCount(protocol.JobID) int        { return 1 }
func (f fakeSchedState) QueuedTasks(_ protocol.JobID, limit int) []protocol.Task {
	return f.queued[:min(limit, len(f.queued))]
}

func TestReservedViewHidesPickedTasks(t *testing.T) {
	var st fakeSchedState
	for i := range 6 {
		st.queued = append(st.queued, protocol.Task{TaskKey: protocol.TaskKey{Job: "j", Shard: i}})
	}
	r := newReservations()
	picked := []protocol.TaskNext{{TaskKey: protocol.TaskKey{Job: "j", Shard: 0}}, {TaskKey: protocol.TaskKey{Job: "j", Shard: 1}}}
	r.add(picked)
	v := r.view(st)
	got := v.QueuedTasks("j", 3)
	if len(got) != 3 || got[0].Shard != 2 || got[2].Shard != 4 {
		t.Fatalf("queued after reserving 0,1: %v", got)
	}
	if v.LeasedCount("j") != 3 {
		t.Errorf("leased count %d, want 1 + 2 reserved", v.LeasedCount("j"))
	}
	r.release(picked)
	r.release(picked) // idempotent
	if got := v.QueuedTasks("j", 2); got[0].Shard != 0 || v.LeasedCount("j") != 1 {
		t.Errorf("after release: %v, leased %d", got, v.LeasedCount("j"))
	}
}
