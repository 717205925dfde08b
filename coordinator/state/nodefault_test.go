package state

import (
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestNodeFaultFailures: a failure the node reported as its own
// (CmdTaskNodeFault) strikes the node for the job but does not count
// toward MaxAttempts; it shares MaxNoFaultRequeues with the requeues
// without a fault, past which it counts, so the job still ends.
func TestNodeFaultFailures(t *testing.T) {
	s := seeded(t) // MaxAttempts 2
	idx, attempt := uint64(1), 0
	end := func(node string, c protocol.TaskFail) {
		t.Helper()
		attempt++
		idx += 2
		if got := s.AssignTasks(idx, protocol.TaskAssign{Node: node, Leases: []protocol.TaskNext{lease("a", 3, attempt)}, At: t0}); len(got) != 1 {
			t.Fatalf("attempt %d not granted", attempt)
		}
		c.TaskKey, c.Attempt, c.Node, c.At = key("a", 3), attempt, node, t0
		if err := s.FailTask(idx+1, c); err != nil {
			t.Fatal(err)
		}
	}
	full := protocol.TaskFail{Reason: "model needs 9 GiB, but the disk has 2 GiB free", NodeFault: true}
	end("n1", full)
	end("n2", full)
	end("n2", full)
	tk, _ := s.TaskByKey(key("a", 3))
	if j, _ := s.JobByID("a"); j.State.Terminal() || tk.State != protocol.TaskQueued || tk.CountedFailures() != 0 {
		t.Fatalf("after three failures the nodes reported as their own: job %s, task %s, counted %d", j.State, tk.State, tk.CountedFailures())
	}
	for _, f := range tk.Failures {
		if !f.NodeFault || !f.NoFault {
			t.Fatalf("failure recorded as %+v, want the node's fault, not counted", f)
		}
	}
	if n1, n2 := s.View().FailuresOn("a", "n1"), s.View().FailuresOn("a", "n2"); n1 != 1 || n2 != 2 {
		t.Fatalf("strikes n1 %d, n2 %d; want 1 and 2", n1, n2)
	}
	if st := s.Stats(); st.NodeFault != 3 || st.NoFault != 3 || st.Failures != 3 {
		t.Fatalf("stats %+v, want 3 failures, all the nodes' and not counted", st)
	}
	for range protocol.MaxNoFaultRequeues - 3 { // the cap is shared with hand-backs
		end("n3", protocol.TaskFail{Reason: protocol.ReasonDraining, NoStrike: true, NoFault: true})
	}
	end("n4", full) // past the cap: counts, still the node's
	tk, _ = s.TaskByKey(key("a", 3))
	if last := tk.Failures[len(tk.Failures)-1]; tk.CountedFailures() != 1 || !last.NodeFault || last.NoFault {
		t.Fatalf("a node's fault past the cap: counted %d, last %+v; want 1, the node's, counted", tk.CountedFailures(), last)
	}
	end("n4", full)
	if j, _ := s.JobByID("a"); j.State != protocol.JobFailed {
		t.Fatalf("job %s after MaxAttempts counted failures, want failed", j.State)
	}
	assertRoundTrip(t, s) // the mark is replicated state
}

// TestNodeFaultStrikesGangRank: a gang attempt's failure does not strike
// the rank that reports it (every rank fails when one is lost), but one
// the rank reports as its own does, so the gang is not formed with it
// again and again.
func TestNodeFaultStrikesGangRank(t *testing.T) {
	s := seeded(t)
	for i, nodeFault := range []bool{false, true} {
		idx := uint64(10 * (i + 1))
		if got := s.AssignTasks(idx, protocol.TaskAssign{Node: "n1", Peers: []string{"n1", "n2"}, Leases: []protocol.TaskNext{lease("a", 3, i+1)}, At: t0}); len(got) != 1 {
			t.Fatalf("gang attempt %d not granted", i+1)
		}
		c := protocol.TaskFail{TaskKey: key("a", 3), Attempt: i + 1, Node: "n2", Reason: "rank 1 failed", At: t0, NodeFault: nodeFault}
		if err := s.FailTask(idx+1, c); err != nil {
			t.Fatal(err)
		}
	}
	if n1, n2 := s.View().FailuresOn("a", "n1"), s.View().FailuresOn("a", "n2"); n1 != 0 || n2 != 1 {
		t.Fatalf("strikes n1 %d, n2 %d; want 0 and 1 (the node's own fault only)", n1, n2)
	}
}
