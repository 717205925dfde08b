package coordinator

import (
	"context"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestResultWinsOverFailureMarks: a completion that carries a result
// completes the shard whatever else it says — an error text, NodeFault,
// the draining reason — with no failure recorded, no strike and no
// hand-back noted (a node that stops after finishing is still served
// until it does).
func TestResultWinsOverFailureMarks(t *testing.T) {
	f := newDrainFixture(t, nil, "n1")
	for i, mark := range []protocol.CompleteReport{
		{Error: "disk full", NodeFault: true},
		{Error: protocol.ReasonDraining},
		{Error: "cuda: out of memory"},
	} {
		as := f.lease("n1", 1)
		if len(as) != 1 {
			t.Fatalf("case %d: %d leases", i, len(as))
		}
		a := as[0]
		rep := mark
		rep.TaskKey, rep.Node, rep.Attempt = a.Task.TaskKey, "n1", a.Task.Attempt
		rep.Result = &protocol.ShardInfo{Node: "n1", Images: int(a.Task.End - a.Task.Start)}
		if ack := f.srv.Complete(context.Background(), rep); ack.Error != nil {
			t.Fatalf("case %d: %v", i, ack.Error)
		}
		tk, _ := f.srv.Store().TaskByKey(a.Task.TaskKey)
		if tk.State != protocol.TaskDone || len(tk.Failures) != 0 {
			t.Fatalf("case %d (%+v): task %s with failures %+v, want done without any", i, mark, tk.State, tk.Failures)
		}
		if n := f.srv.Store().View().FailuresOn(a.Task.Job, "n1"); n != 0 {
			t.Fatalf("case %d: %d strikes", i, n)
		}
	}
	if got := f.lease("n1", 1); len(got) != 1 {
		t.Fatalf("after the completions the node got %d leases, want 1 (not taken for a stopping node)", len(got))
	}
}
