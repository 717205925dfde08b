package protocol

import (
	"fmt"
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
}

// ShardInfo is what a node reports for a completed shard.
type ShardInfo struct {
	Node    string   `json:"node"`
	Images  int      `json:"images"`
	Failed  int      `json:"failed,omitempty"`
	Bytes   int64    `json:"bytes"`
	Objects []string `json:"objects"`
	// Seconds spent on the shard (load excluded when models are resident).
	Seconds float64 `json:"seconds"`
	// Reused: the shard was already complete in storage (same request,
	// verified objects), so nothing was generated (a resumed job).
	Reused bool `json:"reused,omitempty"`
}
