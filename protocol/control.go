package protocol

import "time"

// Job and node control commands (docs/architecture.md, "Job and node
// control"). Each carries the leader's clock (At) like every command.

// JobPause pauses (Paused) or resumes a job: a paused job gets no new
// leases; its running shards finish.
type JobPause struct {
	ID     JobID     `json:"id"`
	Paused bool      `json:"paused"`
	At     time.Time `json:"at"`
}

// JobRetry puts a job's failed shards back in the queue: each keeps its
// attempt count, so its next lease is a fresh attempt (fencing intact),
// and its earlier failures stop counting toward MaxAttempts. A failed job
// becomes active again (its unfinished shards run too).
type JobRetry struct {
	ID JobID     `json:"id"`
	At time.Time `json:"at"`
}

// JobPriority changes a job's scheduling priority (Job.PriorityOverride;
// the submitted spec is kept as it was).
type JobPriority struct {
	ID       JobID     `json:"id"`
	Priority int       `json:"priority"`
	At       time.Time `json:"at"`
}

// JobDelete removes finished jobs from the state (outputs untouched):
// `sanafarm rm` names one, the leader's retention GC a batch. Active
// jobs are refused.
type JobDelete struct {
	IDs []JobID   `json:"ids"`
	At  time.Time `json:"at"`
}

// MaxDeleteBatch bounds the jobs of one JobDelete (the GC proposes
// larger sets in several entries).
const MaxDeleteBatch = 1000

// NodeDrain sets or clears a node's control state. Drain: the node gets
// no new leases, its running shards finish. Disable: drained, and the
// leader hands its current leases back to the queue. Neither (undrain)
// clears both.
type NodeDrain struct {
	Node    string    `json:"node"`
	Drain   bool      `json:"drain,omitempty"`
	Disable bool      `json:"disable,omitempty"`
	At      time.Time `json:"at"`
	// Auto: the leader drained the node itself (docs/architecture.md,
	// "Auto-drain"); Reason says why. An older server ignores both and
	// drains it the same.
	Auto   bool   `json:"auto,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// MaxNodeControls bounds the nodes the state holds a drain for: a drain
// may name a node that never joined (it holds for one that joins later),
// so the list is not bounded by the cluster. Ten times the largest farm
// planned (docs/scale.md).
const MaxNodeControls = 10000

// MaxDrainReason bounds NodeDrain.Reason (it quotes a node's error).
const MaxDrainReason = 512

// NodeControl is a node's control state as the Raft state holds it.
type NodeControl struct {
	Drain   bool      `json:"drain,omitempty"`
	Disable bool      `json:"disable,omitempty"`
	Since   time.Time `json:"since"`
	Auto    bool      `json:"auto,omitempty"`   // drained by the leader (auto-drain)
	Reason  string    `json:"reason,omitempty"` // why, for an auto-drain
}

// EffectivePriority is the job's priority: PriorityOverride when set,
// else the spec's.
func (j Job) EffectivePriority() int {
	if j.PriorityOverride != nil {
		return *j.PriorityOverride
	}
	return j.Spec.Priority
}

// Schedulable reports whether the scheduler may hand out the job's
// shards: it is active and not paused.
func (j Job) Schedulable() bool { return !j.State.Terminal() && !j.Paused }

// CountedFailures is how many of the task's failures count toward the
// job's MaxAttempts: those since its last retry, less those without a
// fault (Failure.NoFault).
func (t Task) CountedFailures() int {
	n, _ := t.failuresSinceRetry()
	return n
}

// NoFaultFailures is how many of the task's failures since its last retry
// had no fault.
func (t Task) NoFaultFailures() int {
	_, n := t.failuresSinceRetry()
	return n
}

func (t Task) failuresSinceRetry() (counted, noFault int) {
	for _, f := range t.Failures[min(max(t.RetryBase, 0), len(t.Failures)):] {
		if f.NoFault {
			noFault++
		} else {
			counted++
		}
	}
	return counted, noFault
}
