package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// TaskState is the lifecycle state of a task (one output shard).
type TaskState string

// Task states.
const (
	TaskQueued TaskState = "queued" // waiting for a node
	TaskLeased TaskState = "leased" // assigned, lease running
	TaskDone   TaskState = "done"   // completion of the current attempt applied
	TaskFailed TaskState = "failed" // attempts exhausted
)

// TaskKey names a task: a job and a shard number.
type TaskKey struct {
	Job   JobID `json:"job"`
	Shard int   `json:"shard"`
}

// String renders "job/00042".
func (k TaskKey) String() string { return fmt.Sprintf("%s/%05d", k.Job, k.Shard) }

// Task is one output shard of a job: samples [Start, End).
type Task struct {
	TaskKey
	Start int64     `json:"start"` // first sample
	End   int64     `json:"end"`   // one past the last sample
	State TaskState `json:"state"`
	// Attempt counts assignments; completions and progress carry it, and
	// only the current attempt's are accepted (fencing).
	Attempt  int    `json:"attempt"`
	Assignee string `json:"assignee,omitempty"`
	// Peers are the node ids of a gang attempt by rank (Peers[0] is the
	// Assignee, rank 0, which writes the shard); empty for one node.
	Peers    []string  `json:"peers,omitempty"`
	Deadline time.Time `json:"deadline,omitempty"` // lease deadline
	Progress int       `json:"progress,omitempty"` // images done in this attempt
	// Failures lists the nodes whose attempts failed (per-job blocklist).
	Failures []Failure `json:"failures,omitempty"`
	// RetryBase is how many of Failures came before the task's last
	// retry (CmdJobRetry): they stay listed but no longer count toward
	// MaxAttempts (CountedFailures).
	RetryBase int        `json:"retry_base,omitempty"`
	Result    *ShardInfo `json:"result,omitempty"`
}

// Failure is one failed attempt.
type Failure struct {
	Attempt int    `json:"attempt"`
	Node    string `json:"node"`
	Reason  string `json:"reason"`
	// NoFault: the attempt ended through no fault of the shard
	// (CmdTaskRequeue); it does not count toward MaxAttempts.
	NoFault bool `json:"no_fault,omitempty"`
	// NodeFault: the node reported the failure as its own (its disk,
	// its limits, its allow-lists; CmdTaskNodeFault). The node is struck
	// for the job; NoFault says whether the failure went uncounted (it
	// counts past MaxNoFaultRequeues).
	NodeFault bool `json:"node_fault,omitempty"`
}

// MaxNoFaultRequeues bounds the requeues without a fault of the shard
// (CmdTaskRequeue, CmdTaskNodeFault) a task gets since its last retry;
// later ones count toward MaxAttempts like any failure. A week-long job
// rides out many drains and leader changes, but a shard whose attempts
// always end "without a fault" (a node that hands every shard back, or
// says every failure is its own) must still end its job.
const MaxNoFaultRequeues = 20

// ShardInfo is what a node reports for a completed shard.
//
// Nodes report the shard's object keys (Objects); the coordinator keeps
// only their count and digest (Compact): the shard's _stats.json in the
// store is the record of its objects, and the Raft state must stay small
// per shard (docs/scale.md, "Raft state per finished shard").
type ShardInfo struct {
	Node    string   `json:"node"`
	Images  int      `json:"images"`
	Failed  int      `json:"failed,omitempty"`
	Bytes   int64    `json:"bytes"`
	Objects []string `json:"objects,omitempty"`
	// ObjectCount and Digest summarise the reported keys once Compact
	// dropped them: how many, and ObjectsDigest of them.
	ObjectCount int    `json:"object_count,omitempty"`
	Digest      string `json:"objects_sha256,omitempty"`
	// Seconds spent on the shard (load excluded when models are resident).
	Seconds float64 `json:"seconds"`
	// Reused: the shard was already complete in storage (same request,
	// verified objects), so nothing was generated (a resumed job).
	Reused bool `json:"reused,omitempty"`
}

// Compact returns the shard info as the Raft state keeps it: the object
// keys replaced by their count and digest (an info without keys keeps the
// count and digest it has) and Seconds rounded to milliseconds. It is
// deterministic, so every voter applying it stores the same bytes.
func (s ShardInfo) Compact() ShardInfo {
	if len(s.Objects) > 0 {
		s.ObjectCount, s.Digest = len(s.Objects), ObjectsDigest(s.Objects)
	}
	s.Objects = nil
	if !math.IsNaN(s.Seconds) && !math.IsInf(s.Seconds, 0) {
		s.Seconds = math.Round(s.Seconds*1000) / 1000
	}
	return s
}

// ObjectsDigest is the hex SHA-256 of the keys sorted and joined by
// newlines: the same set of keys gives the same digest in any order.
func ObjectsDigest(keys []string) string {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return hex.EncodeToString(sum[:])
}
