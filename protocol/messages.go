package protocol

import "time"

// LeaseRequest asks the leader for up to Free tasks (NATS SubjectLease).
type LeaseRequest struct {
	Node NodeInfo `json:"node"`
	Free int      `json:"free"`
}

// Assignment is a leased task with everything needed to run it.
type Assignment struct {
	Task     Task      `json:"task"`
	Spec     JobSpec   `json:"spec"`
	Deadline time.Time `json:"deadline"`
}

// LeaseReply answers a LeaseRequest.
type LeaseReply struct {
	Assignments []Assignment `json:"assignments,omitempty"`
	Error       *Error       `json:"error,omitempty"`
}

// ProgressReport extends a task's lease and reports images done in the
// current attempt (NATS SubjectProgress).
type ProgressReport struct {
	TaskKey
	Node    string `json:"node"`
	Attempt int    `json:"attempt"`
	Done    int    `json:"done"`
}

// CompleteReport ends an attempt (NATS SubjectComplete): Result on
// success, Error (with the reason) on failure.
type CompleteReport struct {
	TaskKey
	Node    string     `json:"node"`
	Attempt int        `json:"attempt"`
	Result  *ShardInfo `json:"result,omitempty"`
	Error   string     `json:"error,omitempty"`
}

// Ack answers progress and completion reports; Deadline is the extended
// lease deadline.
type Ack struct {
	Deadline time.Time `json:"deadline,omitempty"`
	Error    *Error    `json:"error,omitempty"`
}
