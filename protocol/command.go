package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CommandType is the first byte of a Raft log entry. Entries are
// [type][JSON payload]. A type with IgnoreUnknown set may be skipped by an
// older server that does not know it (rolling upgrades); an unknown type
// without the flag is logged at ERROR and skipped by every voter alike,
// with an error as the apply response (see coordinator's fsm).
type CommandType uint8

// IgnoreUnknown marks a command that older servers may skip.
const IgnoreUnknown CommandType = 0x80

// Commands. Every payload carries the leader's clock (At) so that Apply is
// deterministic on every voter.
const (
	CmdJobSubmit    CommandType = 1 // JobSubmit
	CmdJobCancel    CommandType = 2 // JobCancel
	CmdTaskAssign   CommandType = 3 // TaskAssign
	CmdTaskProgress CommandType = 4 // TaskProgress (batched; IgnoreUnknown-safe)
	CmdTaskComplete CommandType = 5 // TaskComplete
	CmdTaskFail     CommandType = 6 // TaskFail (reported failure, lease expiry, node loss)
	// CmdJobManifest (JobManifest) records that a done job's manifest is
	// written. Always sent with IgnoreUnknown: an older server skips it
	// and at worst a later leader checks the manifest again.
	CmdJobManifest CommandType = 7
	// Job and node control (control.go, docs/architecture.md §"Job and
	// node control"). All are sent with IgnoreUnknown: an older voter
	// skips them during a rolling upgrade and only schedules differently
	// (it never breaks fencing); finish the upgrade before relying on them.
	CmdJobPause    CommandType = 8  // JobPause (pause or resume)
	CmdJobRetry    CommandType = 9  // JobRetry
	CmdJobPriority CommandType = 10 // JobPriority
	CmdJobDelete   CommandType = 11 // JobDelete (rm and the retention GC)
	CmdNodeDrain   CommandType = 12 // NodeDrain (drain, disable, undrain)
	// CmdTaskRequeue (TaskFail) ends an attempt through no fault of its
	// shard: a hand-back by a draining node, an operator's disable, a
	// lease reply the node never got, an expiry right after a leader
	// change. Its failure is recorded with Failure.NoFault and does not
	// count toward MaxAttempts (up to MaxNoFaultRequeues). A server that
	// does not know the type skips it and its state would diverge, so the
	// leader sends it only while every server of the Raft configuration
	// announces FeatureRequeue (docs/architecture.md, "Feature gates").
	CmdTaskRequeue CommandType = 13
	// CmdJobSubmitBounded (JobSubmit) adds a job only while the specs the
	// state holds, this one's included, stay within its MaxSpecBytes (the
	// leader's --max-job-bytes): the FSM checks in log order, so submits
	// checked by different leaders around an election cannot pass the
	// bound together. Gated like CmdTaskRequeue (FeatureJobBytes).
	CmdJobSubmitBounded CommandType = 14
	// CmdTaskNodeFault (TaskFail) ends an attempt that failed through the
	// node's own fault, as the node reported it (CompleteReport.NodeFault:
	// its disk full, a model over its --max-model-bytes, a location its
	// allow-lists do not cover): the node is struck for the job (its
	// blocklist and auto-drain count it) but the failure does not count
	// toward the shard's MaxAttempts (up to MaxNoFaultRequeues, shared
	// with CmdTaskRequeue), so a small job that meets a few such nodes in
	// turn does not fail while healthy ones could run it. When no live
	// node may run it any more, the stuck-job check fails the job with
	// the nodes' reasons. Gated like CmdTaskRequeue (FeatureNodeFault).
	CmdTaskNodeFault CommandType = 15
)

// Feature is the feature a gated command type needs ("" for the others):
// the leader sends the type only while every server announces it, and
// the FSM records it in use from the first entry of the type
// (docs/architecture.md, "Feature gates").
func (t CommandType) Feature() string {
	switch t &^ IgnoreUnknown {
	case CmdTaskRequeue:
		return FeatureRequeue
	case CmdJobSubmitBounded:
		return FeatureJobBytes
	case CmdTaskNodeFault:
		return FeatureNodeFault
	}
	return ""
}

func (t CommandType) String() string {
	names := map[CommandType]string{CmdJobSubmit: "job-submit", CmdJobCancel: "job-cancel", CmdTaskAssign: "task-assign",
		CmdTaskProgress: "task-progress", CmdTaskComplete: "task-complete", CmdTaskFail: "task-fail",
		CmdJobManifest: "job-manifest", CmdJobPause: "job-pause", CmdJobRetry: "job-retry", CmdJobPriority: "job-priority",
		CmdJobDelete: "job-delete", CmdNodeDrain: "node-drain", CmdTaskRequeue: "task-requeue",
		CmdJobSubmitBounded: "job-submit-bounded", CmdTaskNodeFault: "task-node-fault"}
	if n, ok := names[t&^IgnoreUnknown]; ok {
		return n
	}
	return fmt.Sprintf("command(%d)", uint8(t))
}

// JobSubmit adds a job and plans its shard tasks.
type JobSubmit struct {
	Job Job       `json:"job"`
	At  time.Time `json:"at"`
	// MaxSpecBytes bounds the Job.SpecBytes of every held job with this
	// one (CmdJobSubmitBounded; ≤ 0: none). The FSM honours it, and
	// keeps Job.SpecBytes, only for that type: an older voter would ignore
	// both fields.
	MaxSpecBytes int64 `json:"max_spec_bytes,omitempty"`
}

// JobCancel cancels a job; its unfinished tasks are dropped.
type JobCancel struct {
	ID     JobID     `json:"id"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// Failed ends the job as failed rather than cancelled (the leader
	// gives up on it, e.g. a gang larger than the cluster). An older
	// server ignores the field and cancels: terminal either way.
	Failed bool `json:"failed,omitempty"`
}

// JobManifest records that the manifest of done job ID was written (or
// found already written) at At.
type JobManifest struct {
	ID JobID     `json:"id"`
	At time.Time `json:"at"`
}

// TaskAssign leases tasks to a node: each task's attempt becomes Attempt.
type TaskAssign struct {
	Node   string     `json:"node"`
	Leases []TaskNext `json:"leases"`
	At     time.Time  `json:"at"`
	// Peers makes the leases gang leases: node ids by rank, Peers[0] ==
	// Node. An older server ignores it and records Node alone (rank 0's
	// reports still fence correctly).
	Peers []string `json:"peers,omitempty"`
}

// TaskNext is one lease in a TaskAssign.
type TaskNext struct {
	TaskKey
	Attempt  int       `json:"attempt"`
	Deadline time.Time `json:"deadline"`
}

// TaskProgress applies a batch of progress updates (lease extensions and
// images done), aggregated by the leader instead of one entry per report.
type TaskProgress struct {
	Updates []ProgressUpdate `json:"updates"`
	At      time.Time        `json:"at"`
}

// ProgressUpdate is one task's progress in a TaskProgress batch.
type ProgressUpdate struct {
	TaskKey
	Attempt  int       `json:"attempt"`
	Done     int       `json:"done"`
	Deadline time.Time `json:"deadline"`
}

// TaskComplete records a shard's result, if Attempt is still current.
type TaskComplete struct {
	TaskKey
	Attempt int       `json:"attempt"`
	Result  ShardInfo `json:"result"`
	At      time.Time `json:"at"`
}

// TaskFail ends the current attempt without a result (Node is "" for a
// lease expiry); the task is requeued unless attempts are exhausted.
type TaskFail struct {
	TaskKey
	Attempt int       `json:"attempt"`
	Node    string    `json:"node"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	// NoStrike: the failure does not count toward the node's blocklist
	// for the job. A lost or restarted node fails all its leases at once;
	// only the first of each job counts, so one crash is one strike
	// however many slots the node had. Older servers count every one.
	NoStrike bool `json:"no_strike,omitempty"`
	// NoFault is set by the FSM from the entry's type (CmdTaskRequeue),
	// never read from the payload: an older voter would ignore a field
	// and count the failure, so only the type may carry the meaning.
	NoFault bool `json:"-"`
	// NodeFault is set by the FSM from the entry's type
	// (CmdTaskNodeFault), never read from the payload, for the same
	// reason.
	NodeFault bool `json:"-"`
}

// EncodeCommand renders a log entry.
func EncodeCommand(t CommandType, payload any) ([]byte, error) {
	js, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encoding %v command: %w", t, err)
	}
	return append([]byte{byte(t)}, js...), nil
}

// ErrEmptyCommand is returned for a zero-length log entry.
var ErrEmptyCommand = errors.New("empty raft command")

// DecodeCommand splits a log entry into its type and JSON payload.
func DecodeCommand(b []byte) (CommandType, []byte, error) {
	if len(b) == 0 {
		return 0, nil, ErrEmptyCommand
	}
	return CommandType(b[0]), b[1:], nil
}
