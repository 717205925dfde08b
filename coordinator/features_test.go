package coordinator

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

func TestAllAnnounce(t *testing.T) {
	servers := []raft.Server{{ID: "c0"}, {ID: "c1"}, {ID: "c2", Suffrage: raft.Nonvoter}}
	f := protocol.FeatureRequeue
	for _, tc := range []struct {
		name      string
		servers   []raft.Server
		announced map[string][]byte
		want      bool
	}{
		{"all announce", servers, map[string][]byte{"c1": []byte(f), "c2": []byte("x," + f)}, true},
		{"self needs no key", servers[:1], nil, true},
		{"a non-voter without it", servers, map[string][]byte{"c1": []byte(f)}, false},
		{"another feature only", servers, map[string][]byte{"c1": []byte(f), "c2": []byte("other")}, false},
		{"a prefix of the name", servers, map[string][]byte{"c1": []byte(f), "c2": []byte(f[:4])}, false},
		{"no configuration", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allAnnounce(tc.servers, "c0", tc.announced, f); got != tc.want {
				t.Errorf("allAnnounce = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFSMFailureTypes: only the entry's type marks a failure as one
// without a fault (CmdTaskRequeue: no strike) or as the node's own
// (CmdTaskNodeFault: a strike); neither counts toward max_attempts. A
// TaskFail payload claiming either counts (an older voter would read it
// as a counted failure, so honouring a field would split the replicas).
func TestFSMFailureTypes(t *testing.T) {
	for _, c := range []struct {
		typ     protocol.CommandType
		claim   string // the payload's field an older voter ignores
		strikes int
		mark    func(protocol.Failure) bool
	}{
		{protocol.CmdTaskRequeue, `"no_fault":true,"NoFault":true`, 0, func(f protocol.Failure) bool { return f.NoFault && !f.NodeFault }},
		{protocol.CmdTaskNodeFault, `"node_fault":true,"NodeFault":true`, 1, func(f protocol.Failure) bool { return f.NoFault && f.NodeFault }},
	} {
		t.Run(c.typ.String(), func(t *testing.T) {
			f := newFSM()
			spec := testSpec(4)
			spec.MaxAttempts = 1
			k := protocol.TaskKey{Job: "j", Shard: 0}
			assign := func(i uint64, attempt int) {
				f.Apply(entry(t, i, protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{{TaskKey: k, Attempt: attempt, Deadline: t0.Add(time.Minute)}}, At: t0}))
			}
			f.Apply(entry(t, 1, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: spec}, At: t0}))
			assign(2, 1)
			if r := f.Apply(entry(t, 3, c.typ, protocol.TaskFail{TaskKey: k, Attempt: 1, Node: "n1", Reason: "r", At: t0, NoStrike: c.strikes == 0})); r != nil {
				t.Fatalf("%v: %v", c.typ, r)
			}
			if tk, _ := f.st.TaskByKey(k); tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || !c.mark(tk.Failures[0]) {
				t.Fatalf("after a %v: %+v", c.typ, tk)
			}
			if n := f.st.View().FailuresOn("j", "n1"); n != c.strikes {
				t.Fatalf("%d strikes, want %d", n, c.strikes)
			}
			assign(4, 2)
			raw := []byte(`{"job":"j","shard":0,"attempt":2,"node":"n1","reason":"oom",` + c.claim + `}`)
			f.Apply(&raft.Log{Index: 5, Type: raft.LogCommand, Data: append([]byte{byte(protocol.CmdTaskFail)}, raw...)})
			if j, _ := f.st.JobByID("j"); j.State != protocol.JobFailed {
				t.Fatalf("job %s after a counted failure with max_attempts 1, want failed", j.State)
			}
		})
	}
}

// TestFailureGates: with every coordinator announcing the features, an
// attempt ended through no fault of its shard — a hand-back, or a failure
// the node reports as its own (a full disk) — does not use up the shard's
// attempts: with max_attempts 1 the job survives three of them and
// finishes. A node's own fault strikes it (once per report), a hand-back
// does not. With one server of the configuration that does not announce
// the features (an older release mid-upgrade), the leader falls back to a
// plain counted failure, which every server applies alike.
func TestFailureGates(t *testing.T) {
	for _, c := range []struct {
		name    string
		report  protocol.CompleteReport // Error and NodeFault
		nodes   []string                // each reports once, then the last completes
		strikes int                     // per reporting node
	}{
		{"hand-back", protocol.CompleteReport{Error: protocol.ReasonDraining}, []string{"n", "n", "n", "n"}, 0},
		{"node's own fault", protocol.CompleteReport{Error: "model needs 9 GiB, but the disk has 2 GiB free", NodeFault: true},
			[]string{"full-a", "full-b", "full-c", "good"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) { testFailureGate(t, c.report, c.nodes, c.strikes) })
	}
}

func testFailureGate(t *testing.T, how protocol.CompleteReport, nodes []string, strikes int) {
	c := startCluster(t, 3, nil)
	srv := c.members[c.leader(10*time.Second)].srv
	waitFor(t, 10*time.Second, "features announced", func() bool {
		resp, err := c.etcd.Get(context.Background(), protocol.FeaturePrefix, clientv3.WithPrefix())
		return err == nil && len(resp.Kvs) == 3
	})
	for _, n := range slices.Compact(slices.Clone(nodes)) {
		announce(t, c.etcd, n)
	}
	waitFor(t, 5*time.Second, "nodes in the view", func() bool { return len(srv.nodes.all()) == len(slices.Compact(slices.Clone(nodes))) })
	f := &drainFixture{t: t, srv: srv}
	submit := func(id protocol.JobID) {
		spec := testSpec(2)
		spec.MaxAttempts = 1
		if _, err := srv.SubmitJob(context.Background(), id, spec); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(node string) protocol.Assignment {
		t.Helper()
		as := f.lease(node, 1)
		if len(as) != 1 {
			t.Fatalf("%s got %d leases, want 1", node, len(as))
		}
		rep := how
		rep.TaskKey, rep.Node, rep.Attempt = as[0].Task.TaskKey, node, as[0].Task.Attempt
		if ack := srv.Complete(context.Background(), rep); ack.Error != nil {
			t.Fatalf("%s reporting: %v", node, ack.Error)
		}
		return as[0]
	}
	submit("j-new")
	for _, n := range nodes[:len(nodes)-1] {
		fail(n)
	}
	if j, _ := srv.Store().JobByID("j-new"); j.State.Terminal() {
		t.Fatalf("job %s after %d such ends with max_attempts 1: %s", j.State, len(nodes)-1, j.Error)
	}
	if s := srv.Store().View().FailuresOn("j-new", nodes[0]); s != strikes {
		t.Errorf("%s has %d strikes for the job, want %d", nodes[0], s, strikes)
	}
	f.completeAll(nodes[len(nodes)-1])
	if j, _ := srv.Store().JobByID("j-new"); j.State != protocol.JobDone {
		t.Fatalf("job %s, want done", j.State)
	}

	// An older follower: its key gone, as an older release never writes it.
	old := c.members[(c.leader(time.Second)+1)%3].srv.ID()
	if _, err := c.etcd.Delete(context.Background(), protocol.FeatureKey(old)); err != nil {
		t.Fatal(err)
	}
	srv.features.mu.Lock() // forget the cached answer (featureRecheck)
	clear(srv.features.checked)
	srv.features.mu.Unlock()
	submit("j-mixed")
	a := fail(nodes[0])
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
