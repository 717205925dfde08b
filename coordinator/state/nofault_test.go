package state

import (
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestNoFaultRequeues: a requeue without a fault (CmdTaskRequeue) neither
// counts toward MaxAttempts nor strikes the node, up to
// MaxNoFaultRequeues; past that it counts, so the job still ends.
func TestNoFaultRequeues(t *testing.T) {
	s := seeded(t) // MaxAttempts 2
	idx, attempt := uint64(1), 0
	end := func(noFault bool) {
		t.Helper()
		attempt++
		idx += 2
		if got := s.AssignTasks(idx, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 3, attempt)}, At: t0}); len(got) != 1 {
			t.Fatalf("attempt %d not granted", attempt)
		}
		c := protocol.TaskFail{TaskKey: key("a", 3), Attempt: attempt, Node: "n1", Reason: protocol.ReasonDraining, At: t0, NoStrike: true, NoFault: noFault}
		if err := s.FailTask(idx+1, c); err != nil {
			t.Fatal(err)
		}
	}
	for range protocol.MaxNoFaultRequeues {
		end(true)
	}
	j, _ := s.JobByID("a")
	tk, _ := s.TaskByKey(key("a", 3))
	if j.State.Terminal() || tk.State != protocol.TaskQueued || tk.CountedFailures() != 0 || tk.NoFaultFailures() != protocol.MaxNoFaultRequeues {
		t.Fatalf("after %d requeues without a fault: job %s, task %s, counted %d, no fault %d",
			protocol.MaxNoFaultRequeues, j.State, tk.State, tk.CountedFailures(), tk.NoFaultFailures())
	}
	if n := s.View().FailuresOn("a", "n1"); n != 0 {
		t.Fatalf("%d strikes for requeues without a fault", n)
	}
	if st := s.Stats(); st.NoFault != protocol.MaxNoFaultRequeues || st.Failures != protocol.MaxNoFaultRequeues {
		t.Fatalf("stats %+v, want %d failures, all not counted", st, protocol.MaxNoFaultRequeues)
	}
	end(true) // past the cap: counts
	if tk, _ = s.TaskByKey(key("a", 3)); tk.CountedFailures() != 1 || tk.State != protocol.TaskQueued {
		t.Fatalf("requeue past the cap: counted %d, %s; want 1, queued", tk.CountedFailures(), tk.State)
	}
	end(false)
	if j, _ = s.JobByID("a"); j.State != protocol.JobFailed {
		t.Fatalf("job %s after MaxAttempts counted failures, want failed", j.State)
	}
}

// TestNoFaultSurvivesSnapshot: the mark is replicated state.
func TestNoFaultSurvivesSnapshot(t *testing.T) {
	s := seeded(t)
	s.AssignTasks(2, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 1, 1)}, At: t0})
	if err := s.FailTask(3, protocol.TaskFail{TaskKey: key("a", 1), Attempt: 1, Node: "n1", Reason: "node disabled", At: t0, NoStrike: true, NoFault: true}); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.TaskByKey(key("a", 1)); len(tk.Failures) != 1 || !tk.Failures[0].NoFault || tk.CountedFailures() != 0 {
		t.Fatalf("task %+v", tk)
	}
	assertRoundTrip(t, s) // the restored store's tasks equal s's, NoFault included
}
