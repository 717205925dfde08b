package protocol

import "time"

// LeaseRequest asks the leader for up to Free tasks (NATS SubjectLease).
type LeaseRequest struct {
	Node NodeInfo `json:"node"`
	Free int      `json:"free"`
	// Gang: the node can run one rank of a parallel (gang) assignment.
	// Older nodes omit it and are never put in a gang.
	Gang bool `json:"gang,omitempty"`
	// Seq numbers the node's lease requests from 1 within its incarnation
	// (NodeInfo.StartedAt); the node sends one at a time. A numbered
	// request lists in Holds every task attempt the node still runs or
	// reports: a grant answering an earlier request that the node does not
	// list never reached it (NATS held that request past the node's
	// timeout, and the reply went to an inbox nobody listened to any
	// more), so the leader sends it again or requeues it instead of
	// leaving it leased for a TTL (coordinator/grants.go). Older nodes send
	// neither field (Seq 0: Holds says nothing).
	Seq   uint64        `json:"seq,omitempty"`
	Holds []TaskAttempt `json:"holds,omitempty"`
}

// TaskAttempt names one attempt of a task.
type TaskAttempt struct {
	TaskKey
	Attempt int `json:"attempt"`
}

// Assignment is a leased task with everything needed to run it.
type Assignment struct {
	Task     Task      `json:"task"`
	Spec     JobSpec   `json:"spec"`
	Deadline time.Time `json:"deadline"`
	// A gang assignment (Spec.Parallel set) is this node's Rank of Ranks;
	// the ranks talk over NATS subjects under Group (GroupName), Peers are
	// the node ids by rank. Every rank computes; only rank 0 writes the
	// shard and reports its result; any rank reports a failure.
	Rank  int      `json:"rank,omitempty"`
	Ranks int      `json:"ranks,omitempty"`
	Group string   `json:"group,omitempty"`
	Peers []string `json:"peers,omitempty"`
	// Addressed: the ranks send each message to its recipient's own
	// subjects (shard.NATSConfig.Addressed). The leader sets it when
	// every peer announces FeatureGangAddressed; a node of an earlier
	// release ignores it, so it is never set for a gang with one.
	Addressed bool `json:"addressed,omitempty"`
}

// LeaseReply answers a LeaseRequest.
type LeaseReply struct {
	Assignments []Assignment `json:"assignments,omitempty"`
	// Pending: the node holds a place in a gang that is still forming;
	// it should ask again shortly (the agent waits 100 ms; its rank's Assignment comes then).
	Pending bool   `json:"pending,omitempty"`
	Error   *Error `json:"error,omitempty"`
	// Now is the leader's clock when it answered: a node takes each
	// assignment's Deadline as Deadline-Now from its own receipt, so a
	// node clock far off the leader's does not misjudge how long its
	// lease lasts (zero from older leaders: Deadline as a wall time).
	Now time.Time `json:"now,omitzero"`
}

// ProgressReport extends a task's lease and reports images done in the
// current attempt (NATS SubjectProgress).
type ProgressReport struct {
	TaskKey
	Node    string `json:"node"`
	Attempt int    `json:"attempt"`
	Done    int    `json:"done"`
}

// ReasonDraining is a CompleteReport's Error when a stopping node hands a
// running shard back (its drain grace period ended): the shard did not
// fail there, so the leader requeues it without a strike against the node.
const ReasonDraining = "draining"

// ReasonNoSlot is a CompleteReport's Error when a node hands back a grant
// it has no free slot for (a leader sent more than the request's Free,
// which a correct one never does). The leader cannot verify the claim, so
// it counts as a failure on the node.
const ReasonNoSlot = "node has no free slot"

// ReasonRefused starts a CompleteReport's Error when a node refuses an
// assignment that fails its Check, followed by ": " and the problem. The
// leader checks its own grant again (Assignment.CheckGrant): a grant that
// fails there too is the job's doing and counts against the shard without
// a strike; one that passes is the node's (another release, a fault) and
// strikes it without counting.
const ReasonRefused = "node refused the assignment"

// CompleteReport ends an attempt (NATS SubjectComplete): Result on
// success, Error (with the reason) on failure.
type CompleteReport struct {
	TaskKey
	Node    string     `json:"node"`
	Attempt int        `json:"attempt"`
	Result  *ShardInfo `json:"result,omitempty"`
	Error   string     `json:"error,omitempty"`
	// StartedAt names the reporting process (NodeInfo.StartedAt): a
	// hand-back holds off new work for that process only, not for one
	// started after it (zero from earlier nodes: the latest known).
	StartedAt time.Time `json:"started_at,omitzero"`
	// NodeFault: Error is the node's own doing, not the shard's — its
	// disk is full, the model is over its --max-model-bytes, the job
	// names a location its allow-lists do not cover. Another node may
	// well run the shard, so the leader strikes this node without
	// counting the attempt (CmdTaskNodeFault). Older leaders ignore it
	// and count the failure.
	NodeFault bool `json:"node_fault,omitempty"`
}

// Ack answers progress and completion reports; Deadline is the extended
// lease deadline.
type Ack struct {
	Deadline time.Time `json:"deadline,omitempty"`
	Error    *Error    `json:"error,omitempty"`
	// Now is the leader's clock when it answered (LeaseReply.Now).
	Now time.Time `json:"now,omitzero"`
}
