package coordinator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// testSpec returns a job of prompts prompts in shards of 2. Each call
// names its own output (an output location belongs to one active job).
func testSpec(prompts int) protocol.JobSpec {
	inline := make([]string, prompts)
	for i := range inline {
		inline[i] = "a red fox"
	}
	return protocol.JobSpec{Model: protocol.TinyPreset, Seed: 1, ShardSize: 2,
		Prompts: protocol.PromptSource{Inline: inline}, Output: protocol.OutputSpec{URL: fmt.Sprintf("/tmp/out/%d", outputSeq.Add(1))}}
}

var outputSeq atomic.Int64

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

// TestFSMSkipsUnusableEntries: an entry of a known type the FSM cannot
// apply (a corrupt one) is skipped with an error response on every
// replica instead of panicking (which crash-loops every voter replaying
// it); the entries after it still apply. (An unknown type halts instead:
// TestFSMHaltsOnNewerCommand.)
func TestFSMSkipsUnusableEntries(t *testing.T) {
	for name, data := range map[string][]byte{
		"corrupt payload":    append([]byte{byte(protocol.CmdJobSubmit)}, "{not json"...),
		"wrong payload type": append([]byte{byte(protocol.CmdTaskAssign)}, `{"leases": 5}`...),
		"empty":              {},
		"manifest garbage":   append([]byte{byte(protocol.CmdJobManifest | protocol.IgnoreUnknown)}, 0xff, 0x00),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFSM()
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			resp := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
			if err, ok := resp.(error); !ok || !errors.Is(err, errBadEntry) {
				t.Fatalf("response %#v, want an errBadEntry error", resp)
			}
			if r := f.Apply(entry(t, 2, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(2)}, At: t0})); r != nil {
				t.Fatalf("next entry: %v", r)
			}
			if _, ok := f.st.JobByID("j"); !ok {
				t.Fatal("entry after the skipped one not applied")
			}
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

// TestFSMOutputOwnership: an output location belongs to one active job.
// JobSubmit of a job whose output equals, contains or lies inside an
// active job's output is refused (conflict) on apply, deterministically;
// a sibling prefix ("/out/a" vs "/out/ab") and a finished job's output
// are free; the same id resubmitted stays the idempotent duplicate.
func TestFSMOutputOwnership(t *testing.T) {
	out := func(id protocol.JobID, url string) protocol.JobSubmit {
		s := testSpec(2)
		s.Output.URL = url
		return protocol.JobSubmit{Job: protocol.Job{ID: id, Spec: s}, At: t0}
	}
	f := newFSM()
	steps := []struct {
		name  string
		typ   protocol.CommandType
		cmd   any
		check func(any) bool
	}{
		{"first job", protocol.CmdJobSubmit, out("a", "file:///data/out/a"), isNil},
		{"same location", protocol.CmdJobSubmit, out("b", "/data/out/a/"), hasCode(protocol.CodeConflict)},
		{"same location, unclean", protocol.CmdJobSubmit, out("b", "file:///data/out/x/../a"), hasCode(protocol.CodeConflict)},
		{"inside", protocol.CmdJobSubmit, out("b", "file:///data/out/a/sub"), hasCode(protocol.CodeConflict)},
		{"contains", protocol.CmdJobSubmit, out("b", "FILE:///data/out"), hasCode(protocol.CodeConflict)},
		{"sibling prefix", protocol.CmdJobSubmit, out("c", "file:///data/out/ab"), isNil},
		{"other scheme", protocol.CmdJobSubmit, out("d", "s3://data/out/a"), isNil},
		{"s3 inside", protocol.CmdJobSubmit, out("e", "s3://data/out/a/x?region=eu"), hasCode(protocol.CodeConflict)},
		{"same id", protocol.CmdJobSubmit, out("a", "file:///data/out/a"), hasCode(protocol.CodeConflict)},
		{"cancel a", protocol.CmdJobCancel, protocol.JobCancel{ID: "a", At: t0}, isNil},
		{"free after a ended", protocol.CmdJobSubmit, out("f", "file:///data/out/a/sub"), isNil},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if resp := f.Apply(entry(t, uint64(i+1), s.typ, s.cmd)); !s.check(resp) {
				t.Fatalf("response %#v", resp)
			}
		})
	}
	if _, ok := f.st.JobByID("b"); ok {
		t.Error("conflicting job b was added")
	}
	err, _ := f.Apply(entry(t, 99, protocol.CmdJobSubmit, out("g", "/data/out/a"))).(error)
	if err == nil || !strings.Contains(err.Error(), "active job f") {
		t.Errorf("conflict error %v does not name the active job", err)
	}
}

// TestFSMJobManifest: CmdJobManifest records a done job's manifest once;
// the pending set shrinks and survives a snapshot restore.
func TestFSMJobManifest(t *testing.T) {
	f := newFSM()
	k := protocol.TaskKey{Job: "j", Shard: 0}
	manifest := protocol.CmdJobManifest | protocol.IgnoreUnknown
	steps := []struct {
		name  string
		typ   protocol.CommandType
		cmd   any
		check func(any) bool
	}{
		{"submit", protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(1)}, At: t0}, isNil},
		{"submit k", protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "k", Spec: withOutput(testSpec(1), "/tmp/k")}, At: t0}, isNil},
		{"manifest before done", manifest, protocol.JobManifest{ID: "j", At: t0}, hasCode(protocol.CodeConflict)},
		{"assign", protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n", Leases: []protocol.TaskNext{{TaskKey: k, Attempt: 1}}, At: t0},
			func(r any) bool { return r != nil }},
		{"complete", protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: k, Attempt: 1, Result: protocol.ShardInfo{Images: 1}, At: t0}, isNil},
		{"unknown job", manifest, protocol.JobManifest{ID: "nope", At: t0}, hasCode(protocol.CodeNotFound)},
	}
	for i, s := range steps {
		if resp := f.Apply(entry(t, uint64(i+1), s.typ, s.cmd)); !s.check(resp) {
			t.Fatalf("%s: response %#v", s.name, resp)
		}
	}
	select {
	case <-f.st.JobDone():
	default:
		t.Fatal("no done signal")
	}
	if p := f.st.ManifestsPending(); len(p) != 1 || p[0] != "j" {
		t.Fatalf("pending %+v", p)
	}
	restored := snapshotRoundTrip(t, f)
	if p := restored.st.ManifestsPending(); len(p) != 1 || p[0] != "j" {
		t.Fatalf("pending after restore %+v", p)
	}
	at := t0.Add(time.Minute)
	if r := f.Apply(entry(t, 10, manifest, protocol.JobManifest{ID: "j", At: at})); r != nil {
		t.Fatalf("record: %v", r)
	}
	if r := f.Apply(entry(t, 11, manifest, protocol.JobManifest{ID: "j", At: at})); !hasCode(protocol.CodeConflict)(r) {
		t.Fatalf("second record: %#v", r)
	}
	if j, _ := f.st.JobByID("j"); !j.ManifestAt.Equal(at) || len(f.st.ManifestsPending()) != 0 {
		t.Fatalf("job %+v pending %v", j, f.st.ManifestsPending())
	}
	if p := snapshotRoundTrip(t, f).st.ManifestsPending(); len(p) != 0 {
		t.Fatalf("pending after restore %+v", p)
	}
}

func withOutput(s protocol.JobSpec, url string) protocol.JobSpec {
	s.Output.URL = url
	return s
}

// snapshotRoundTrip persists f's state and restores it into a new FSM.
func snapshotRoundTrip(t *testing.T, f *fsm) *fsm {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	store := raft.NewInmemSnapshotStore()
	sink, err := store.Create(raft.SnapshotVersionMax, f.st.Index(), 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	_, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	g := newFSM()
	if err := g.Restore(rc); err != nil {
		t.Fatal(err)
	}
	return g
}
