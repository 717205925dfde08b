package coordinator

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// fsm is the Raft state machine over the state store. It is a private type
// so that Apply/Snapshot/Restore stay off the Server's public method set
// (Nomad's `type nomadFSM`; our store lives in coordinator/state and the
// FSM needs a logger, so it is a small struct rather than a conversion
// type).
//
// Raft's concurrency contract: Apply, Snapshot and Restore are called from
// one goroutine, never concurrently; Persist on the returned snapshot runs
// on another goroutine concurrently with later Applies. Snapshot therefore
// only captures the store's copy-on-write view (O(jobs)); Persist streams
// that immutable view.
//
// Entries are [type][JSON]. A corrupt entry or an unknown type without
// protocol.IgnoreUnknown panics: applying the rest of the log on top of a
// command we cannot understand would silently diverge from the other
// voters, so the server must stop (raft cannot skip it). An unknown type
// with IgnoreUnknown (written by a newer server during a rolling upgrade)
// is skipped with a log line.
type fsm struct {
	st  *state.Store
	log *slog.Logger
}

var _ raft.FSM = (*fsm)(nil)

// Apply applies one committed entry. Its response is what the leader's
// apply future returns: an error (*protocol.Error for lost races such as a
// stale attempt), the granted leases of a TaskAssign, or nil.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	typ, buf, err := protocol.DecodeCommand(l.Data)
	if err != nil {
		panic(fmt.Errorf("raft entry %d: %w", l.Index, err))
	}
	switch typ &^ protocol.IgnoreUnknown {
	case protocol.CmdJobSubmit:
		return f.applyJobSubmit(buf, l.Index)
	case protocol.CmdJobCancel:
		return f.applyJobCancel(buf, l.Index)
	case protocol.CmdTaskAssign:
		return f.applyTaskAssign(buf, l.Index)
	case protocol.CmdTaskProgress:
		return f.applyTaskProgress(buf, l.Index)
	case protocol.CmdTaskComplete:
		return f.applyTaskComplete(buf, l.Index)
	case protocol.CmdTaskFail:
		return f.applyTaskFail(buf, l.Index)
	}
	if typ&protocol.IgnoreUnknown != 0 {
		f.log.Warn("skipping unknown raft command", "type", uint8(typ), "index", l.Index)
		return nil
	}
	panic(fmt.Errorf("raft entry %d: unknown command type %d", l.Index, uint8(typ)))
}

// decode unmarshals a payload; a corrupt payload is fatal (see fsm).
func decode(buf []byte, index uint64, v any) {
	if err := json.Unmarshal(buf, v); err != nil {
		panic(fmt.Errorf("raft entry %d: decoding %T: %w", index, v, err))
	}
}

func (f *fsm) applyJobSubmit(buf []byte, index uint64) any {
	var c protocol.JobSubmit
	decode(buf, index, &c)
	if err := f.st.UpsertJob(index, c); err != nil {
		return err
	}
	f.log.Debug("job submitted", "job_id", c.Job.ID, "shards", c.Job.Spec.Shards())
	return nil
}

func (f *fsm) applyJobCancel(buf []byte, index uint64) any {
	var c protocol.JobCancel
	decode(buf, index, &c)
	if err := f.st.CancelJob(index, c); err != nil {
		return err
	}
	return nil
}

func (f *fsm) applyTaskAssign(buf []byte, index uint64) any {
	var c protocol.TaskAssign
	decode(buf, index, &c)
	return f.st.AssignTasks(index, c)
}

func (f *fsm) applyTaskProgress(buf []byte, index uint64) any {
	var c protocol.TaskProgress
	decode(buf, index, &c)
	return f.st.UpdateProgress(index, c)
}

func (f *fsm) applyTaskComplete(buf []byte, index uint64) any {
	var c protocol.TaskComplete
	decode(buf, index, &c)
	if err := f.st.CompleteTask(index, c); err != nil {
		return err
	}
	return nil
}

func (f *fsm) applyTaskFail(buf []byte, index uint64) any {
	var c protocol.TaskFail
	decode(buf, index, &c)
	if err := f.st.FailTask(index, c); err != nil {
		return err
	}
	return nil
}

// Snapshot captures the store's immutable view (cheap; see fsm).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.st.Snapshot()}, nil
}

// Restore replaces the state with a persisted snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	n, err := state.ReadSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restoring snapshot: %w", err)
	}
	f.st.Replace(n)
	return nil
}

type fsmSnapshot struct{ snap *state.Snapshot }

// Persist streams the snapshot into the sink, cancelling it on error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persisting snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("closing snapshot sink: %w", err)
	}
	return nil
}

// Release is a no-op: the view is garbage collected.
func (s *fsmSnapshot) Release() {}
