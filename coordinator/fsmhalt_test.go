package coordinator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// newerEntry is a command of a type no release knows yet, without the
// ignore-unknown flag: what a newer release's gated command looks like.
func newerEntry(index uint64) *raft.Log {
	return &raft.Log{Index: index, Term: 3, Type: raft.LogCommand, Data: []byte{0x7e, '{', '}'}}
}

// TestFSMHaltsOnNewerCommand: an entry of a type this release does not
// know halts the FSM instead of being skipped: nothing after it applies,
// no snapshot is taken of the state, no snapshot is restored over it, and
// the reason names the entry and says a newer release wrote it.
func TestFSMHaltsOnNewerCommand(t *testing.T) {
	f := newFSM()
	if r := f.Apply(entry(t, 1, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "a", Spec: testSpec(2)}, At: t0})); r != nil {
		t.Fatal(r)
	}
	var good bytes.Buffer
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.(*fsmSnapshot).snap.WriteTo(&good); err != nil {
		t.Fatal(err)
	}
	resp := f.Apply(newerEntry(2))
	err, _ = resp.(error)
	if !errors.Is(err, state.ErrNewerRelease) || !strings.Contains(err.Error(), "raft entry 2 (term 3) has command type 126") {
		t.Fatalf("response %v, want a newer-release error naming the entry", resp)
	}
	select {
	case <-f.halt.done():
	default:
		t.Fatal("the FSM did not halt")
	}
	if r := f.Apply(entry(t, 3, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "b", Spec: testSpec(2)}, At: t0})); !errors.Is(r.(error), state.ErrNewerRelease) {
		t.Fatalf("entry after the halt: %v", r)
	}
	if _, ok := f.st.JobByID("b"); ok || f.st.Index() != 1 {
		t.Fatalf("an entry after the halt was applied (index %d)", f.st.Index())
	}
	if _, err := f.Snapshot(); !errors.Is(err, state.ErrNewerRelease) {
		t.Fatalf("snapshot of a halted state: %v", err)
	}
	if err := f.Restore(io.NopCloser(&good)); !errors.Is(err, state.ErrNewerRelease) {
		t.Fatalf("restore over a halted state: %v", err)
	}
}

// TestFSMRestoreNewerSnapshotHalts: a snapshot that uses a feature this
// release does not know halts the FSM; a readable but broken one does not.
func TestFSMRestoreNewerSnapshotHalts(t *testing.T) {
	f := newFSM()
	err := f.Restore(io.NopCloser(strings.NewReader(`{"version":2,"jobs":0}` + "\n" + `{"type":"bogus"}` + "\n")))
	if err == nil || errors.Is(err, state.ErrNewerRelease) || f.halt.get() != nil {
		t.Fatalf("a broken snapshot: %v, halted %v", err, f.halt.get())
	}
	err = f.Restore(io.NopCloser(strings.NewReader(`{"version":2,"jobs":0,"features":{"lease-fencing":40}}` + "\n")))
	if !errors.Is(err, state.ErrNewerRelease) || !strings.Contains(err.Error(), `"lease-fencing"`) {
		t.Fatalf("restore: %v", err)
	}
	if !errors.Is(f.halt.get(), state.ErrNewerRelease) {
		t.Fatal("the FSM did not halt")
	}
}

// TestFSMRecordsFeatures: each gated command records its feature at the
// index of its first use; the commands older releases know record none.
func TestFSMRecordsFeatures(t *testing.T) {
	f := newFSM()
	k := protocol.TaskKey{Job: "j", Shard: 0}
	f.Apply(entry(t, 1, protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(4)}, At: t0}))
	assign := func(i uint64, attempt int) {
		f.Apply(entry(t, i, protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{{TaskKey: k, Attempt: attempt, Deadline: t0.Add(time.Minute)}}, At: t0}))
	}
	assign(2, 1)
	f.Apply(entry(t, 3, protocol.CmdTaskFail, protocol.TaskFail{TaskKey: k, Attempt: 1, Node: "n1", Reason: "r", At: t0}))
	if got := f.st.FeaturesInUse(); len(got) != 0 {
		t.Fatalf("features %v after commands every release knows", got)
	}
	assign(4, 2)
	f.Apply(entry(t, 5, protocol.CmdTaskNodeFault, protocol.TaskFail{TaskKey: k, Attempt: 2, Node: "n1", Reason: "disk", At: t0}))
	f.Apply(entry(t, 6, protocol.CmdJobSubmitBounded, protocol.JobSubmit{Job: protocol.Job{ID: "k", Spec: testSpec(2)}, At: t0, MaxSpecBytes: 1 << 20}))
	assign(7, 3)
	f.Apply(entry(t, 8, protocol.CmdTaskRequeue, protocol.TaskFail{TaskKey: k, Attempt: 3, Node: "n1", Reason: "drain", At: t0, NoStrike: true}))
	f.Apply(entry(t, 9, protocol.CmdJobSubmitBounded, protocol.JobSubmit{Job: protocol.Job{ID: "l", Spec: testSpec(2)}, At: t0, MaxSpecBytes: 1 << 20}))
	want := map[string]uint64{protocol.FeatureNodeFault: 5, protocol.FeatureJobBytes: 6, protocol.FeatureRequeue: 8}
	got := f.st.FeaturesInUse()
	if len(got) != len(want) {
		t.Fatalf("features %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("features %v, want %v", got, want)
		}
	}
}

// TestServerStopsAtNewerEntry: a coordinator whose log holds an entry of
// a newer release (as after rolling one back past a gated command) stops
// with the reason instead of running on a state the others do not share,
// and stops there again on every restart; health lists the features the
// state used before it.
func TestServerStopsAtNewerEntry(t *testing.T) {
	dir := t.TempDir()
	c := startCluster(t, 1, func(cfg *Config) { cfg.DataDir = dir })
	m := c.members[0]
	c.leader(10 * time.Second)
	ctx := context.Background()
	if _, err := m.srv.SubmitJob(ctx, "j1", testSpec(2)); err != nil {
		t.Fatal(err)
	}
	if got := m.srv.Health().FeaturesInUse; got[protocol.FeatureJobBytes] == 0 {
		t.Fatalf("features in use %v after a bounded submit", got)
	}
	fut := m.srv.getRaft().Apply(newerEntry(0).Data, 5*time.Second)
	if err := fut.Error(); err != nil {
		t.Fatal(err)
	}
	if err, _ := fut.Response().(error); !errors.Is(err, state.ErrNewerRelease) {
		t.Fatalf("response %v", fut.Response())
	}
	stopped := func(done <-chan error) error {
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("the coordinator went on after an entry of a newer release")
			return nil
		}
	}
	err := stopped(m.done)
	m.cancel, m.done = nil, nil // stopped: the cleanup must not wait for it
	m.nc.Close()
	if !errors.Is(err, state.ErrNewerRelease) {
		t.Fatalf("Run returned %v, want the newer-release error", err)
	}
	ln, err := net.Listen("tcp", m.srv.RaftAddr())
	if err != nil {
		t.Skipf("raft address taken since: %v", err)
	}
	nc := connectNATS(t, c.natsURL)
	defer nc.Close()
	srv, err := New(Config{ID: "c0", DataDir: dir, RaftListener: ln, NATS: nc, Etcd: c.etcd, Token: clusterToken,
		Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- srv.Run(rctx) }()
	if err := stopped(done); !errors.Is(err, state.ErrNewerRelease) {
		t.Fatalf("restarted Run returned %v, want the newer-release error", err)
	}
	if _, ok := srv.store.JobByID("j1"); !ok {
		t.Fatal("the entries before the newer one were not replayed")
	}
}
