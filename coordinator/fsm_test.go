package coordinator

import (
	"bytes"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testSpec(prompts int) protocol.JobSpec {
	inline := make([]string, prompts)
	for i := range inline {
		inline[i] = "a red fox"
	}
	return protocol.JobSpec{Model: protocol.TinyPreset, Seed: 1, ShardSize: 2,
		Prompts: protocol.PromptSource{Inline: inline}, Output: protocol.OutputSpec{URL: "/tmp/out"}}
}

func entry(t *testing.T, index uint64, typ protocol.CommandType, payload any) *raft.Log {
	t.Helper()
	b, err := protocol.EncodeCommand(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: b}
}

func newFSM() *fsm { return &fsm{st: state.New(), log: slog.New(slog.DiscardHandler)} }

func TestFSMApply(t *testing.T) {
	f := newFSM()
	k0 := protocol.TaskKey{Job: "j", Shard: 0}
	steps := []struct {
		name    string
		typ     protocol.CommandType
		payload any
		check   func(resp any) bool
	}{
		{"submit", protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(4)}, At: t0}, isNil},
		{"duplicate submit", protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(4)}, At: t0}, hasCode(protocol.CodeConflict)},
		{"assign", protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{{TaskKey: k0, Attempt: 1, Deadline: t0.Add(time.Minute)}}, At: t0},
			func(r any) bool { l, ok := r.([]protocol.TaskNext); return ok && len(l) == 1 }},
		{"progress (ignore-unknown flag)", protocol.CmdTaskProgress | protocol.IgnoreUnknown,
			protocol.TaskProgress{Updates: []protocol.ProgressUpdate{{TaskKey: k0, Attempt: 1, Done: 1}}, At: t0},
			func(r any) bool { return r == 1 }},
		{"stale complete", protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: k0, Attempt: 2, At: t0}, hasCode(protocol.CodeStaleAttempt)},
		{"complete", protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: k0, Attempt: 1, Result: protocol.ShardInfo{Images: 2}, At: t0}, isNil},
		{"fail done task", protocol.CmdTaskFail, protocol.TaskFail{TaskKey: k0, Attempt: 1, At: t0}, hasCode(protocol.CodeStaleAttempt)},
		{"unknown ignorable", protocol.CommandType(0x7f) | protocol.IgnoreUnknown, struct{}{}, isNil},
		{"cancel", protocol.CmdJobCancel, protocol.JobCancel{ID: "j", At: t0}, isNil},
		{"cancel again", protocol.CmdJobCancel, protocol.JobCancel{ID: "j", At: t0}, hasCode(protocol.CodeConflict)},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if resp := f.Apply(entry(t, uint64(i+1), s.typ, s.payload)); !s.check(resp) {
				t.Fatalf("response %#v", resp)
			}
		})
	}
	if j, _ := f.st.JobByID("j"); j.State != protocol.JobCancelled || j.ShardsDone != 1 {
		t.Fatalf("job %+v", j)
	}
	if f.st.Index() != uint64(len(steps)) {
		t.Errorf("index %d", f.st.Index())
	}
	if f.Apply(&raft.Log{Index: 99, Type: raft.LogConfiguration}) != nil {
		t.Error("non-command entry")
	}
}

func isNil(r any) bool { return r == nil }

func hasCode(c protocol.Code) func(any) bool {
	return func(r any) bool { err, ok := r.(error); return ok && protocol.CodeOf(err) == c }
}

func TestFSMFatalEntries(t *testing.T) {
	for name, data := range map[string][]byte{
		"unknown type":    {0x7f, '{', '}'},
		"corrupt payload": append([]byte{byte(protocol.CmdJobSubmit)}, "{not json"...),
		"empty":           {},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			newFSM().Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
		})
	}
}

// TestFSMSnapshotRestore persists through raft's snapshot store and
// restores into a fresh FSM.
func TestFSMSnapshotRestore(t *testing.T) {
	f := newFSM()
	cmds := []struct {
		typ     protocol.CommandType
		payload any
	}{
		{protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "a", Spec: testSpec(9)}, At: t0}},
		{protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "b", Spec: testSpec(3)}, At: t0}},
		{protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{
			{TaskKey: protocol.TaskKey{Job: "a", Shard: 0}, Attempt: 1}, {TaskKey: protocol.TaskKey{Job: "a", Shard: 1}, Attempt: 1},
			{TaskKey: protocol.TaskKey{Job: "b", Shard: 1}, Attempt: 1}}, At: t0}},
		{protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: protocol.TaskKey{Job: "a", Shard: 0}, Attempt: 1, Result: protocol.ShardInfo{Node: "n1", Images: 2}, At: t0}},
		{protocol.CmdTaskFail, protocol.TaskFail{TaskKey: protocol.TaskKey{Job: "a", Shard: 1}, Attempt: 1, Node: "n1", Reason: "boom", At: t0}},
	}
	for i, c := range cmds {
		f.Apply(entry(t, uint64(i+1), c.typ, c.payload))
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Applies after Snapshot must not leak into the persisted state.
	f2 := newFSM()
	for i, c := range cmds {
		f2.Apply(entry(t, uint64(i+1), c.typ, c.payload))
	}
	f.Apply(entry(t, 6, protocol.CmdJobCancel, protocol.JobCancel{ID: "b", At: t0}))

	store := raft.NewInmemSnapshotStore()
	sink, err := store.Create(raft.SnapshotVersionMax, 5, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	_, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	restored := newFSM()
	if err := restored.Restore(rc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []protocol.JobID{"a", "b"} {
		want, _ := f2.st.JobByID(id)
		got, _ := restored.st.JobByID(id)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("job %s: want %+v got %+v", id, want, got)
		}
		if w, g := f2.st.TasksByJob(id, 0, 0), restored.st.TasksByJob(id, 0, 0); !reflect.DeepEqual(w, g) {
			t.Errorf("tasks of %s: want %+v got %+v", id, w, g)
		}
	}
	if restored.st.Stats() != f2.st.Stats() || restored.st.Index() != 5 {
		t.Errorf("stats %+v index %d", restored.st.Stats(), restored.st.Index())
	}
}

// failingSink fails every write and records Cancel.
type failingSink struct {
	raft.SnapshotSink
	cancelled bool
}

func (s *failingSink) Write([]byte) (int, error) { return 0, io.ErrShortWrite }
func (s *failingSink) Cancel() error             { s.cancelled = true; return nil }

func TestPersistCancelsOnError(t *testing.T) {
	f := newFSM()
	f.Apply(entry(t, 1, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "a", Spec: testSpec(2)}, At: t0}))
	snap, _ := f.Snapshot()
	sink := &failingSink{}
	if err := snap.Persist(sink); err == nil || !sink.cancelled {
		t.Fatalf("err %v cancelled %v", err, sink.cancelled)
	}
	if err := newFSM().Restore(io.NopCloser(bytes.NewBufferString("junk"))); err == nil {
		t.Fatal("restored junk")
	}
}
