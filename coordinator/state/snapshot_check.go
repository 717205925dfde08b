package state

import (
	"fmt"

	"github.com/sanafarm/sanafarm/protocol"
)

// A snapshot comes from this voter's disk or from the leader, over mutual
// TLS; still, one that breaks the store's invariants would not fail on
// restore but later, as wrong counts or a job that can never finish. So
// ReadSnapshot refuses what the store never writes (FuzzReadSnapshot).

// maxTaskHint bounds the task map preallocated per job record: its count
// is a hint from the stream, and 200 records of 57 bytes asking for the
// largest maps would allocate half a gigabyte.
const maxTaskHint = 1024

// maxSpecBytes bounds a job's recorded spec size (a spec is at most a
// request body, far less), so no sum of them can wrap.
const maxSpecBytes = 1 << 32

// checkJobRecord checks a job record before its tasks are read.
func (s *Store) checkJobRecord(jr *jobRecord) error {
	j := jr.Job
	if err := protocol.CheckJobID(j.ID); err != nil {
		return fmt.Errorf("snapshot: job record: %w", err)
	}
	if _, dup := s.jobs[j.ID]; dup {
		return fmt.Errorf("snapshot: job %s recorded twice", j.ID)
	}
	if j.Shards < 0 || j.Shards > protocol.MaxShards {
		return fmt.Errorf("snapshot: job %s has %d shards, want 0..%d", j.ID, j.Shards, protocol.MaxShards)
	}
	if j.SpecBytes < 0 || j.SpecBytes > maxSpecBytes {
		return fmt.Errorf("snapshot: job %s records a %d-byte spec, want 0..%d", j.ID, j.SpecBytes, int64(maxSpecBytes))
	}
	if jr.Cursor < 0 || jr.Cursor > j.Shards {
		return fmt.Errorf("snapshot: job %s cursor %d outside its %d shards", j.ID, jr.Cursor, j.Shards)
	}
	return nil
}

// checkRestored checks a restored job's tasks and requeue set against its
// cursor: tasks are materialized only below it, and the requeue set holds
// queued ones, sorted.
func (e *jobEntry) checkRestored() error {
	id := e.job.ID
	for i, t := range e.tasks {
		if i < 0 || i >= e.cursor || t.Job != id || t.Shard != i {
			return fmt.Errorf("snapshot: job %s: task %s recorded as shard %d (cursor %d)", id, t.TaskKey, i, e.cursor)
		}
		switch t.State {
		case protocol.TaskQueued, protocol.TaskLeased, protocol.TaskDone, protocol.TaskFailed:
		default:
			return fmt.Errorf("snapshot: job %s: shard %d in unknown state %q", id, i, t.State)
		}
	}
	queued := 0
	for _, t := range e.tasks {
		if t.State == protocol.TaskQueued {
			queued++
		}
	}
	for k, i := range e.requeue {
		if t, ok := e.tasks[i]; !ok || t.State != protocol.TaskQueued || (k > 0 && e.requeue[k-1] >= i) {
			return fmt.Errorf("snapshot: job %s: requeue entry %d is not a queued shard in order", id, i)
		}
	}
	if queued != len(e.requeue) {
		return fmt.Errorf("snapshot: job %s: %d queued shards below the cursor, %d in its requeue set", id, queued, len(e.requeue))
	}
	return nil
}

// checkCounts checks a recounted job's done count against its record.
func (e *jobEntry) checkCounts() error {
	if e.job.ShardsDone != e.counts.Done {
		return fmt.Errorf("snapshot: job %s records %d shards done, its tasks %d", e.job.ID, e.job.ShardsDone, e.counts.Done)
	}
	return nil
}
