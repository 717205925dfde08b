package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestFSMNodeFaultType: only the entry's type marks a failure as the
// node's own; a TaskFail payload claiming it counts like any failure.
func TestFSMNodeFaultType(t *testing.T) {
	f := newFSM()
	spec := testSpec(4)
	spec.MaxAttempts = 1
	k := protocol.TaskKey{Job: "j", Shard: 0}
	assign := func(i uint64, attempt int) {
		f.Apply(entry(t, i, protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{{TaskKey: k, Attempt: attempt, Deadline: t0.Add(time.Minute)}}, At: t0}))
	}
	f.Apply(entry(t, 1, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: spec}, At: t0}))
	assign(2, 1)
	if r := f.Apply(entry(t, 3, protocol.CmdTaskNodeFault, protocol.TaskFail{TaskKey: k, Attempt: 1, Node: "n1", Reason: "disk full", At: t0})); r != nil {
		t.Fatalf("node fault: %v", r)
	}
	tk, _ := f.st.TaskByKey(k)
	if tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || !tk.Failures[0].NodeFault || !tk.Failures[0].NoFault {
		t.Fatalf("after the node's own fault: %+v", tk)
	}
	if n := f.st.View().FailuresOn("j", "n1"); n != 1 {
		t.Fatalf("%d strikes, want 1", n)
	}
	assign(4, 2)
	raw := []byte(`{"job":"j","shard":0,"attempt":2,"node":"n1","reason":"disk full","node_fault":true,"NodeFault":true}`)
	f.Apply(&raft.Log{Index: 5, Type: raft.LogCommand, Data: append([]byte{byte(protocol.CmdTaskFail)}, raw...)})
	if j, _ := f.st.JobByID("j"); j.State != protocol.JobFailed {
		t.Fatalf("job %s after a counted failure with max_attempts 1, want failed", j.State)
	}
}

// TestNodeFaultGate: where every coordinator announces the feature, a
// node that reports a failure as its own (a full disk) is struck but the
// shard keeps its attempts: with max_attempts 1 the job survives two such
// nodes and finishes on a healthy one. In a mixed cluster (one server
// without the feature) the report is a counted failure, applied alike on
// every server.
func TestNodeFaultGate(t *testing.T) {
	c := startCluster(t, 3, nil)
	srv := c.members[c.leader(10*time.Second)].srv
	waitFor(t, 10*time.Second, "features announced", func() bool {
		resp, err := c.etcd.Get(context.Background(), protocol.FeaturePrefix, clientv3.WithPrefix())
		return err == nil && len(resp.Kvs) == 3
	})
	for _, n := range []string{"full-a", "full-b", "good"} {
		announce(t, c.etcd, n)
	}
	waitFor(t, 5*time.Second, "nodes in the view", func() bool { return len(srv.nodes.all()) == 3 })
	f := &drainFixture{t: t, srv: srv}
	submit := func(id protocol.JobID) {
		spec := testSpec(2)
		spec.MaxAttempts = 1
		if _, err := srv.SubmitJob(context.Background(), id, spec); err != nil {
			t.Fatal(err)
		}
	}
	refuse := func(node string) protocol.Assignment {
		t.Helper()
		as := f.lease(node, 1)
		if len(as) != 1 {
			t.Fatalf("%s got %d leases, want 1", node, len(as))
		}
		rep := protocol.CompleteReport{TaskKey: as[0].Task.TaskKey, Node: node, Attempt: as[0].Task.Attempt,
			Error: "model needs 9 GiB, but the disk has 2 GiB free", NodeFault: true}
		if ack := srv.Complete(context.Background(), rep); ack.Error != nil {
			t.Fatalf("%s reporting: %v", node, ack.Error)
		}
		return as[0]
	}
	submit("j-new")
	refuse("full-a")
	refuse("full-b")
	if j, _ := srv.Store().JobByID("j-new"); j.State.Terminal() {
		t.Fatalf("job %s after two nodes' own faults with max_attempts 1: %s", j.State, j.Error)
	}
	for _, n := range []string{"full-a", "full-b"} {
		if s := srv.Store().View().FailuresOn("j-new", n); s != 1 {
			t.Errorf("%s has %d strikes for the job, want 1", n, s)
		}
	}
	f.completeAll("good")
	if j, _ := srv.Store().JobByID("j-new"); j.State != protocol.JobDone {
		t.Fatalf("job %s, want done", j.State)
	}

	old := c.members[(c.leader(time.Second)+1)%3].srv.ID()
	if _, err := c.etcd.Delete(context.Background(), protocol.FeatureKey(old)); err != nil {
		t.Fatal(err)
	}
	srv.features.mu.Lock() // forget the cached answer (featureRecheck)
	clear(srv.features.checked)
	srv.features.mu.Unlock()
	submit("j-mixed")
	a := refuse("full-a")
	for _, m := range c.members {
		waitFor(t, 5*time.Second, m.srv.ID()+" applying the failure", func() bool {
			j, _ := m.srv.Store().JobByID("j-mixed")
			return j.State == protocol.JobFailed
		})
		if tk, _ := m.srv.Store().TaskByKey(a.Task.TaskKey); len(tk.Failures) != 1 || tk.Failures[0].NoFault || tk.Failures[0].NodeFault {
			t.Errorf("%s recorded %+v, want one plain counted failure", m.srv.ID(), tk.Failures)
		}
	}
}
