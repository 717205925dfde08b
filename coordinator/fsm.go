package coordinator

import (
	"encoding/json"
	"errors"
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
// Entries are [type][JSON]. An entry we cannot apply — empty, or an
// undecodable payload of a known type — is logged at ERROR and skipped,
// and Apply returns an error value for it. Skipping is deterministic
// (every voter decodes the same bytes the same way), so replicas do not
// diverge; panicking instead would let one corrupt entry crash-loop every
// voter, since raft replays it on each restart. An unknown type with
// IgnoreUnknown (written by a newer server during a rolling upgrade) is
// skipped with a warning. An unknown type without it halts the FSM
// (fsmhalt.go): a newer release wrote it, and only this server would
// skip it.
type fsm struct {
	st  *state.Store
	log *slog.Logger
	ev  *eventHub // the event stream (events_fsm.go); nil: none
	// health follows each node's failed shards for auto-drain
	// (nodehealth.go); nil: none.
	health *nodeHealth
	// halt stops the FSM at what a newer release wrote (fsmhalt.go).
	halt haltLatch
}

var _ raft.FSM = (*fsm)(nil)

// errBadEntry marks entries the FSM skipped as unusable.
var errBadEntry = errors.New("unusable raft entry")

// Apply applies one committed entry. Its response is what the leader's
// apply future returns: an error (*protocol.Error for lost races such as a
// stale attempt, errBadEntry for a skipped entry), the granted leases of a
// TaskAssign, or nil.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if err := f.halt.get(); err != nil {
		return err // nothing after the entry it halted at
	}
	typ, buf, err := protocol.DecodeCommand(l.Data)
	if err != nil {
		return f.skip(l, err)
	}
	var c command
	switch typ &^ protocol.IgnoreUnknown {
	case protocol.CmdJobSubmit, protocol.CmdJobSubmitBounded:
		c = &jobSubmit{}
	case protocol.CmdJobCancel:
		c = &jobCancel{}
	case protocol.CmdTaskAssign:
		c = &taskAssign{}
	case protocol.CmdTaskProgress:
		c = &taskProgress{}
	case protocol.CmdTaskComplete:
		c = &taskComplete{}
	case protocol.CmdTaskFail, protocol.CmdTaskRequeue, protocol.CmdTaskNodeFault:
		c = &taskFail{}
	case protocol.CmdJobManifest:
		c = &jobManifest{}
	default:
		c = controlCommand(typ &^ protocol.IgnoreUnknown)
	}
	if c == nil {
		if typ&protocol.IgnoreUnknown != 0 {
			f.log.Warn("skipping unknown raft command", "type", uint8(typ), "index", l.Index)
			return nil
		}
		return f.haltNewer(l, uint8(typ))
	}
	if err := json.Unmarshal(buf, c); err != nil {
		return f.skip(l, fmt.Errorf("decoding %v: %w", typ, err))
	}
	if name := typ.Feature(); name != "" {
		f.st.UseFeature(name, l.Index) // its snapshots now need this release
	}
	if tf, ok := c.(*taskFail); ok {
		// Only the type says "no fault" or "the node's fault"
		// (protocol.TaskFail.NoFault, NodeFault).
		tf.NoFault = typ&^protocol.IgnoreUnknown == protocol.CmdTaskRequeue
		tf.NodeFault = typ&^protocol.IgnoreUnknown == protocol.CmdTaskNodeFault
	}
	if js, ok := c.(*jobSubmit); ok && typ&^protocol.IgnoreUnknown != protocol.CmdJobSubmitBounded {
		// Only the type carries the bound and the size (an older voter
		// applies a plain submit without them).
		js.MaxSpecBytes, js.Job.SpecBytes = 0, 0
	}
	pre := f.health.before(f.st, c)
	resp := f.applyEvents(c, l.Index)
	f.health.after(c, pre, resp)
	return resp
}

// skip logs an unusable entry and returns its error as the response.
func (f *fsm) skip(l *raft.Log, err error) error {
	err = fmt.Errorf("raft entry %d skipped: %w: %w", l.Index, errBadEntry, err)
	f.log.Error("skipping unusable raft entry", "index", l.Index, "term", l.Term, "bytes", len(l.Data), "err", err)
	return err
}

// command is a decoded entry that applies itself to the store.
type command interface {
	apply(st *state.Store, index uint64) any
}

type (
	jobSubmit    protocol.JobSubmit
	jobCancel    protocol.JobCancel
	taskAssign   protocol.TaskAssign
	taskProgress protocol.TaskProgress
	taskComplete protocol.TaskComplete
	taskFail     protocol.TaskFail
	jobManifest  protocol.JobManifest
)

func (c *jobSubmit) apply(st *state.Store, index uint64) any {
	return errOrNil(st.UpsertJob(index, protocol.JobSubmit(*c)))
}

func (c *jobCancel) apply(st *state.Store, index uint64) any {
	return errOrNil(st.CancelJob(index, protocol.JobCancel(*c)))
}

func (c *taskAssign) apply(st *state.Store, index uint64) any {
	return st.AssignTasks(index, protocol.TaskAssign(*c))
}

func (c *taskProgress) apply(st *state.Store, index uint64) any {
	return st.UpdateProgress(index, protocol.TaskProgress(*c))
}

func (c *taskComplete) apply(st *state.Store, index uint64) any {
	return errOrNil(st.CompleteTask(index, protocol.TaskComplete(*c)))
}

func (c *taskFail) apply(st *state.Store, index uint64) any {
	return errOrNil(st.FailTask(index, protocol.TaskFail(*c)))
}

func (c *jobManifest) apply(st *state.Store, index uint64) any {
	return errOrNil(st.RecordManifest(index, protocol.JobManifest(*c)))
}

// errOrNil keeps a nil error an untyped nil response (a typed nil in an
// any would read as an error to the leader).
func errOrNil(err error) any {
	if err == nil {
		return nil
	}
	return err
}

// Snapshot captures the store's immutable view (cheap; see fsm).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.halt.get(); err != nil {
		return nil, fmt.Errorf("no snapshot of a halted state: %w", err)
	}
	return &fsmSnapshot{snap: f.st.Snapshot()}, nil
}

// Restore replaces the state with a persisted snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.halt.get(); err != nil {
		return err
	}
	n, err := state.ReadSnapshot(rc)
	if err != nil {
		err = fmt.Errorf("restoring snapshot: %w", err)
		if errors.Is(err, state.ErrNewerRelease) {
			f.log.Error("stopping: a snapshot needs a newer release", "err", err)
			f.halt.set(err)
		}
		return err
	}
	f.st.Replace(n)
	f.health.reset()
	f.ev.restored(f.st.Index())
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
