package state

import (
	"maps"
	"slices"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Job and node control (docs/architecture.md, "Job and node control"):
// the apply methods of pause/resume, retry, priority, delete and node
// drain, and the reads the leader's retention GC and lease path need.

// PauseJob applies a JobPause: an active job is paused or resumed (the
// scheduler skips paused jobs; leases already granted run on).
func (s *Store) PauseJob(index uint64, c protocol.JobPause) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	e, err := s.activeJob(c.ID)
	if err != nil {
		return err
	}
	e.job.Paused, e.job.UpdatedAt = c.Paused, c.At
	s.reindex(c.ID)
	return nil
}

// SetPriority applies a JobPriority to any existing job (a finished one
// keeps it for a later retry).
func (s *Store) SetPriority(index uint64, c protocol.JobPriority) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	e, err := s.existingJob(c.ID)
	if err != nil {
		return err
	}
	p := c.Priority
	e.job.PriorityOverride, e.job.UpdatedAt = &p, c.At
	return nil
}

// RetryJob applies a JobRetry: every failed shard is queued again with
// its attempt kept (the next lease is attempt+1, a fresh staging folder
// under _attempts/<job>/<shard>/<attempt>/) and its failures so far no
// longer counting toward MaxAttempts; the job's per-node blocklist is
// cleared. A failed job becomes active again (queued or running), its
// manifest pending anew once it ends. A cancelled or done job, or an
// active one without failed shards, is a conflict.
func (s *Store) RetryJob(index uint64, c protocol.JobRetry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	e, err := s.existingJob(c.ID)
	if err != nil {
		return err
	}
	switch st := e.job.State; {
	case st == protocol.JobDone || st == protocol.JobCancelled:
		return protocol.Errorf(protocol.CodeConflict, "job %s is %s: only failed shards are retried", c.ID, st)
	case !st.Terminal() && e.counts.Failed == 0:
		return protocol.Errorf(protocol.CodeConflict, "job %s is %s and has no failed shards", c.ID, st)
	case st.Terminal():
		if err := s.outputConflict(e.job); err != nil {
			return err // another active job took its output meanwhile
		}
	}
	for _, i := range slices.Sorted(maps.Keys(e.tasks)) {
		t := e.tasks[i]
		if t.State != protocol.TaskFailed {
			continue
		}
		t.State, t.RetryBase, t.Deadline = protocol.TaskQueued, len(t.Failures), c.At
		e.tasks[i] = t
		e.requeueShard(i)
		e.counts.Failed--
		e.counts.Queued++
	}
	e.fails = map[string]int{}
	e.job.Retries++
	e.job.Error, e.job.UpdatedAt, e.job.ManifestAt = "", c.At, time.Time{}
	if e.job.State.Terminal() {
		// A new run: its rate starts at its first lease, its timeout now
		// (protocol.Job).
		e.job.StartedAt, e.job.StartedImages, e.job.RunSince = time.Time{}, 0, c.At
		e.job.State = protocol.JobQueued
		if e.job.ShardsDone > 0 {
			e.job.State = protocol.JobRunning
		}
		delete(s.unmanifested, c.ID)
	}
	s.reindex(c.ID)
	return nil
}

// DeleteJobs applies a JobDelete: each finished job named is removed
// (its manifest bookkeeping with it). Unknown ids are skipped; an active
// job is kept and the first such refusal is returned after the others
// are deleted. It returns the ids deleted.
func (s *Store) DeleteJobs(index uint64, c protocol.JobDelete) ([]protocol.JobID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	var deleted []protocol.JobID
	var refused error
	gone := map[protocol.JobID]bool{}
	for _, id := range c.IDs {
		e, ok := s.jobs[id]
		switch {
		case !ok:
			if refused == nil && len(c.IDs) == 1 {
				refused = protocol.Errorf(protocol.CodeNotFound, "job %s not found", id)
			}
			continue
		case !e.job.State.Terminal():
			if refused == nil {
				refused = protocol.Errorf(protocol.CodeConflict, "job %s is %s: cancel it first, only finished jobs are deleted", id, e.job.State)
			}
			continue
		}
		s.graves.bury(id, e.seq) // a listing cursor on it pages on (pages.go)
		s.specBytes -= e.job.SpecBytes
		s.estBytes -= e.est
		delete(s.jobs, id)
		delete(s.unmanifested, id)
		s.reindex(id)
		gone[id] = true
		deleted = append(deleted, id)
	}
	if len(gone) > 0 {
		s.order = slices.DeleteFunc(slices.Clone(s.order), func(id protocol.JobID) bool { return gone[id] })
	}
	return deleted, refused
}

// DrainNode applies a NodeDrain: it sets the node's control state, or
// clears it when neither Drain nor Disable is set. Disable implies Drain.
// An automatic drain leaves a node that is drained already as it is; a
// drain of a new node beyond protocol.MaxNodeControls is refused
// (conflict): a drain may name a node that never joined, so nothing else
// bounds the list.
func (s *Store) DrainNode(index uint64, c protocol.NodeDrain) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	if c.Auto && s.nodes[c.Node].Drain {
		return nil // the operator's drain or disable stays as it is
	}
	if _, ok := s.nodes[c.Node]; !ok && (c.Drain || c.Disable) && len(s.nodes) >= protocol.MaxNodeControls {
		return protocol.Errorf(protocol.CodeConflict,
			"node %s: %d nodes are drained or disabled already, the most the state keeps: undrain nodes that are gone for good",
			c.Node, protocol.MaxNodeControls)
	}
	nodes := maps.Clone(s.nodes) // a snapshot may share the old map
	if !c.Drain && !c.Disable {
		delete(nodes, c.Node)
	} else {
		nodes[c.Node] = protocol.NodeControl{Drain: true, Disable: c.Disable, Since: c.At, Auto: c.Auto, Reason: c.Reason}
	}
	s.nodes = nodes
	return nil
}

// drained reports whether the node or one of the peers is drained.
// Callers hold s.mu.
func (s *Store) drained(node string, peers []string) bool {
	if s.nodes[node].Drain {
		return true
	}
	for _, p := range peers {
		if s.nodes[p].Drain {
			return true
		}
	}
	return false
}

// NodeControl returns a node's control state (zero: schedulable).
func (s *Store) NodeControl(node string) (protocol.NodeControl, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.nodes[node]
	return c, ok
}

// NodeControls returns every node's control state.
func (s *Store) NodeControls() map[string]protocol.NodeControl {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.nodes)
}

// Retention bounds the finished jobs the state keeps (0: unbounded).
type Retention struct {
	Age   time.Duration // finished longer ago than this
	Count int           // at most this many finished jobs
}

// Collectable returns the finished jobs the retention policy deletes at
// now, oldest first: only jobs whose manifest is recorded (their outputs
// are described; a pending manifest must not be lost), those finished
// before now-Age, and beyond the newest Count.
func (s *Store) Collectable(r Retention, now time.Time) []protocol.JobID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var fin []protocol.Job
	finished := 0
	for _, id := range s.order {
		j := s.jobs[id].job
		if !j.State.Terminal() {
			continue
		}
		finished++
		if !j.ManifestAt.IsZero() {
			fin = append(fin, j)
		}
	}
	slices.SortStableFunc(fin, func(a, b protocol.Job) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	var out []protocol.JobID
	excess := 0
	if r.Count > 0 {
		excess = max(finished-r.Count, 0)
	}
	for i, j := range fin {
		if i < excess || (r.Age > 0 && now.Sub(j.UpdatedAt) > r.Age) {
			out = append(out, j.ID)
		}
	}
	return out
}
