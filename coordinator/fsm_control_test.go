package coordinator

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestFSMControl applies every control command, as the leader sends it
// (IgnoreUnknown) and without the flag, through the FSM, then checks the
// state survives a snapshot.
func TestFSMControl(t *testing.T) {
	f := newFSM()
	ign := protocol.IgnoreUnknown
	k := func(s int) protocol.TaskKey { return protocol.TaskKey{Job: "j", Shard: s} }
	lease := func(s, a int) protocol.TaskAssign {
		return protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{{TaskKey: k(s), Attempt: a, Deadline: t0.Add(time.Minute)}}, At: t0}
	}
	spec := testSpec(4)
	spec.MaxAttempts = 1
	deleted := func(ids ...protocol.JobID) func(any) bool {
		return func(r any) bool { got, ok := r.([]protocol.JobID); return ok && reflect.DeepEqual(got, ids) }
	}
	steps := []struct {
		name    string
		typ     protocol.CommandType
		payload any
		check   func(resp any) bool
	}{
		{"submit", protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: spec}, At: t0}, isNil},
		{"pause", protocol.CmdJobPause | ign, protocol.JobPause{ID: "j", Paused: true, At: t0}, isNil},
		{"pause unknown job", protocol.CmdJobPause | ign, protocol.JobPause{ID: "x", Paused: true, At: t0}, hasCode(protocol.CodeNotFound)},
		{"resume (no flag)", protocol.CmdJobPause, protocol.JobPause{ID: "j", At: t0}, isNil},
		{"priority", protocol.CmdJobPriority | ign, protocol.JobPriority{ID: "j", Priority: 3, At: t0}, isNil},
		{"retry without failures", protocol.CmdJobRetry | ign, protocol.JobRetry{ID: "j", At: t0}, hasCode(protocol.CodeConflict)},
		{"assign", protocol.CmdTaskAssign, lease(0, 1), func(r any) bool { l, _ := r.([]protocol.TaskNext); return len(l) == 1 }},
		{"assign 1", protocol.CmdTaskAssign, lease(1, 1), func(r any) bool { l, _ := r.([]protocol.TaskNext); return len(l) == 1 }},
		{"fail: job fails", protocol.CmdTaskFail, protocol.TaskFail{TaskKey: k(0), Attempt: 1, Node: "n1", Reason: "oom", At: t0}, isNil},
		{"retry the failed job", protocol.CmdJobRetry | ign, protocol.JobRetry{ID: "j", At: t0}, isNil},
		{"old attempt fenced", protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: k(0), Attempt: 1, At: t0}, hasCode(protocol.CodeStaleAttempt)},
		{"fresh attempt", protocol.CmdTaskAssign, lease(0, 2), func(r any) bool { l, _ := r.([]protocol.TaskNext); return len(l) == 1 }},
		{"delete active", protocol.CmdJobDelete | ign, protocol.JobDelete{IDs: []protocol.JobID{"j"}, At: t0}, hasCode(protocol.CodeConflict)},
		{"drain", protocol.CmdNodeDrain | ign, protocol.NodeDrain{Node: "n1", Drain: true, At: t0}, isNil},
		{"disable", protocol.CmdNodeDrain | ign, protocol.NodeDrain{Node: "n2", Disable: true, At: t0}, isNil},
		{"undrain", protocol.CmdNodeDrain | ign, protocol.NodeDrain{Node: "n2", At: t0}, isNil},
	}
	for i, s := range steps {
		if resp := f.Apply(entry(t, uint64(i+1), s.typ, s.payload)); !s.check(resp) {
			t.Fatalf("%s: response %#v", s.name, resp)
		}
	}
	j, _ := f.st.JobByID("j")
	c, _ := f.st.TaskCounts("j")
	if j.State != protocol.JobRunning || j.Paused || j.EffectivePriority() != 3 || c != (state.TaskCounts{Queued: 1, Leased: 1}) {
		t.Fatalf("job %+v counts %+v", j, c)
	}
	if nc, ok := f.st.NodeControl("n1"); !ok || !nc.Drain {
		t.Fatalf("n1 not drained: %+v", nc)
	}
	g := snapshotRoundTrip(t, f)
	if !reflect.DeepEqual(g.st.NodeControls(), f.st.NodeControls()) || !reflect.DeepEqual(g.st.Jobs(""), f.st.Jobs("")) {
		t.Fatal("snapshot lost control state")
	}
	// Cancel, then delete: the FSM answers the ids deleted.
	n := uint64(len(steps))
	if r := f.Apply(entry(t, n+1, protocol.CmdJobCancel, protocol.JobCancel{ID: "j", At: t0})); r != nil {
		t.Fatal(r)
	}
	if c, _ := f.st.TaskCounts("j"); c.Leased != 0 {
		t.Fatalf("cancelled job counts %+v", c)
	}
	if r := f.Apply(entry(t, n+2, protocol.CmdJobDelete|ign, protocol.JobDelete{IDs: []protocol.JobID{"j"}, At: t0})); !deleted("j")(r) {
		t.Fatalf("delete response %#v", r)
	}
	if len(f.st.Jobs("")) != 0 {
		t.Fatal("deleted job still listed")
	}
}

// TestOlderFSMSkipsControl: a server without the control commands (an
// older release) skips them, flagged IgnoreUnknown, without an error, and
// applies the entries after them.
func TestOlderFSMSkipsControl(t *testing.T) {
	f := newFSM()
	for i, typ := range []protocol.CommandType{0x7d, 0x7e} { // stand-ins for types an older release lacks
		r := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: append([]byte{byte(typ | protocol.IgnoreUnknown)}, `{"id":"j"}`...)})
		if r != nil {
			t.Fatalf("ignorable unknown command: %#v", r)
		}
	}
	for _, typ := range []protocol.CommandType{protocol.CmdJobPause, protocol.CmdJobRetry, protocol.CmdJobPriority, protocol.CmdJobDelete, protocol.CmdNodeDrain} {
		if controlCommand(typ) == nil || typ&protocol.IgnoreUnknown != 0 || typ.String() == "" {
			t.Fatalf("%v: no command or a type overlapping the flag", typ)
		}
	}
}
