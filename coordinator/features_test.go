package coordinator

import (
	"context"
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

// TestFSMRequeueType: only the entry's type marks a failure without a
// fault; a TaskFail payload cannot (an older voter would read it as a
// counted failure, so honouring a field would split the replicas).
func TestFSMRequeueType(t *testing.T) {
	f := newFSM()
	spec := testSpec(4)
	spec.MaxAttempts = 1
	k := protocol.TaskKey{Job: "j", Shard: 0}
	assign := func(i uint64, attempt int) {
		f.Apply(entry(t, i, protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{{TaskKey: k, Attempt: attempt, Deadline: t0.Add(time.Minute)}}, At: t0}))
	}
	f.Apply(entry(t, 1, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: spec}, At: t0}))
	assign(2, 1)
	if r := f.Apply(entry(t, 3, protocol.CmdTaskRequeue, protocol.TaskFail{TaskKey: k, Attempt: 1, Node: "n1", Reason: protocol.ReasonDraining, At: t0, NoStrike: true})); r != nil {
		t.Fatalf("requeue: %v", r)
	}
	if tk, _ := f.st.TaskByKey(k); tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || !tk.Failures[0].NoFault {
		t.Fatalf("after a requeue: %+v", tk)
	}
	assign(4, 2)
	// A payload that claims no fault under the TaskFail type counts.
	raw := []byte(`{"job":"j","shard":0,"attempt":2,"node":"n1","reason":"oom","no_fault":true,"NoFault":true}`)
	f.Apply(&raft.Log{Index: 5, Type: raft.LogCommand, Data: append([]byte{byte(protocol.CmdTaskFail)}, raw...)})
	if j, _ := f.st.JobByID("j"); j.State != protocol.JobFailed {
		t.Fatalf("job %s after a counted failure with max_attempts 1, want failed", j.State)
	}
}

// TestNoFaultGate: with every coordinator announcing the feature, a
// hand-back does not use up a shard's attempts (max_attempts 1 survives
// three); with one server of the configuration that does not announce it
// (an older release mid-upgrade), the leader falls back to a counted
// failure, which every server applies alike.
func TestNoFaultGate(t *testing.T) {
	c := startCluster(t, 3, nil)
	srv := c.members[c.leader(10*time.Second)].srv
	waitFor(t, 10*time.Second, "features announced", func() bool {
		resp, err := c.etcd.Get(context.Background(), protocol.FeaturePrefix, clientv3.WithPrefix())
		return err == nil && len(resp.Kvs) == 3
	})
	announce(t, c.etcd, "n")
	waitFor(t, 5*time.Second, "node in the view", func() bool { return len(srv.nodes.all()) == 1 })
	f := &drainFixture{t: t, srv: srv}
	submit := func(id protocol.JobID) {
		spec := testSpec(2)
		spec.MaxAttempts = 1
		if _, err := srv.SubmitJob(context.Background(), id, spec); err != nil {
			t.Fatal(err)
		}
	}
	submit("j-new")
	for range 3 {
		as := f.lease("n", 1)
		if len(as) != 1 {
			t.Fatalf("got %d leases, want 1", len(as))
		}
		f.report("n", as[0], protocol.ReasonDraining)
	}
	if j, _ := srv.Store().JobByID("j-new"); j.State.Terminal() {
		t.Fatalf("job %s after three hand-backs with max_attempts 1: %s", j.State, j.Error)
	}
	f.completeAll("n")
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
	as := f.lease("n", 1)
	if len(as) != 1 {
		t.Fatalf("got %d leases, want 1", len(as))
	}
	f.report("n", as[0], protocol.ReasonDraining)
	if j, _ := srv.Store().JobByID("j-mixed"); j.State != protocol.JobFailed {
		t.Fatalf("job %s after a hand-back in a mixed cluster with max_attempts 1, want failed (counted)", j.State)
	}
	for _, m := range c.members {
		waitFor(t, 5*time.Second, m.srv.ID()+" applying the failure", func() bool {
			j, _ := m.srv.Store().JobByID("j-mixed")
			return j.State == protocol.JobFailed
		})
		if tk, _ := m.srv.Store().TaskByKey(as[0].Task.TaskKey); len(tk.Failures) != 1 || tk.Failures[0].NoFault {
			t.Errorf("%s recorded %+v, want one counted failure", m.srv.ID(), tk.Failures)
		}
	}
}
