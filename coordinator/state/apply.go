package state

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Apply methods: one per Raft command, called only by the FSM, in log
// order. They are deterministic (time only from the command's At) and
// return *protocol.Error for commands that lose a race (stale attempt,
// unknown or finished job): the FSM hands that back to the leader as the
// apply response; it is not a corrupt log.

// UpsertJob adds a submitted job (JobSubmit). Its tasks are implied queued.
func (s *Store) UpsertJob(index uint64, c protocol.JobSubmit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	j := c.Job
	if _, ok := s.jobs[j.ID]; ok {
		return protocol.Errorf(protocol.CodeConflict, "job %s already exists", j.ID)
	}
	if err := s.outputConflict(j); err != nil {
		return err
	}
	if j.SpecBytes < 0 || j.SpecBytes > maxSpecBytes {
		return protocol.Errorf(protocol.CodeBadRequest, "job %s records a %d-byte spec, want 0..%d", j.ID, j.SpecBytes, int64(maxSpecBytes))
	}
	if c.MaxSpecBytes > 0 {
		if held := s.specBytes; held+j.SpecBytes > c.MaxSpecBytes {
			return protocol.Errorf(protocol.CodeTooLarge, "the held jobs' specs take %d bytes; with job %s's %d they would pass %d",
				held, j.ID, j.SpecBytes, c.MaxSpecBytes)
		}
	}
	j.State = protocol.JobQueued
	j.CreatedAt, j.UpdatedAt, j.RunSince = c.At, c.At, c.At
	j.Shards = j.Spec.Shards()
	j.Images = j.Spec.Samples()
	j.ShardsDone, j.ImagesDone = 0, 0
	j.ManifestAt = time.Time{}
	e := &jobEntry{gen: s.gen, seq: s.seq, job: j, tasks: map[int]protocol.Task{}, leased: map[int]struct{}{},
		fails: map[string]int{}, counts: TaskCounts{Queued: j.Shards}, est: estimate(j)}
	s.jobs[j.ID] = e
	s.seq++
	s.specBytes += j.SpecBytes
	s.estBytes += e.est
	s.order = append(s.order, j.ID)
	s.reindex(j.ID)
	return nil
}

// CancelJob cancels a job (JobCancel); its leases are dropped.
func (s *Store) CancelJob(index uint64, c protocol.JobCancel) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	e, err := s.activeJob(c.ID)
	if err != nil {
		return err
	}
	st := protocol.JobCancelled
	if c.Failed {
		st = protocol.JobFailed
	}
	e.finish(st, c.Reason, c.At)
	s.markDone(c.ID) // its manifest lists what was generated
	s.reindex(c.ID)
	return nil
}

// existingJob returns job id's writable entry, or a not-found error.
// Callers hold s.mu.
func (s *Store) existingJob(id protocol.JobID) (*jobEntry, error) {
	if e := s.writable(id); e != nil {
		return e, nil
	}
	return nil, protocol.Errorf(protocol.CodeNotFound, "job %s not found", id)
}

// activeJob returns a writable non-terminal job. Callers hold s.mu.
func (s *Store) activeJob(id protocol.JobID) (*jobEntry, error) {
	e, err := s.existingJob(id)
	if err != nil {
		return nil, err
	}
	if e.job.State.Terminal() {
		return nil, protocol.Errorf(protocol.CodeConflict, "job %s is %s", id, e.job.State)
	}
	return e, nil
}

// finish moves a job to a terminal state and drops its leases (late
// reports of the job's attempts are then refused as conflicts). Each
// leased task goes back to queued (same attempt: a retry leases the next
// one) so the counts stay right: the leases used to be dropped from the
// index alone, leaving counts.Leased and the tasks' state at leased
// forever in a cancelled or failed job.
func (e *jobEntry) finish(st protocol.JobState, reason string, at time.Time) {
	e.job.State, e.job.Error, e.job.UpdatedAt = st, reason, at
	for _, i := range slices.Sorted(maps.Keys(e.leased)) {
		e.unlease(i, at)
	}
	e.leased = map[int]struct{}{}
}

// unlease returns leased shard i to the queue: its progress is dropped,
// its attempt kept. Callers own e (writable).
func (e *jobEntry) unlease(i int, at time.Time) {
	t := e.tasks[i]
	e.job.ImagesDone -= int64(t.Progress)
	t.State, t.Progress, t.Assignee, t.Peers, t.Deadline = protocol.TaskQueued, 0, "", nil, at
	e.tasks[i] = t
	delete(e.leased, i)
	e.requeueShard(i)
	e.counts.Leased--
	e.counts.Queued++
}

// requeueShard adds shard i (below the cursor) to the sorted requeue set.
func (e *jobEntry) requeueShard(i int) {
	if j, ok := slices.BinarySearch(e.requeue, i); !ok {
		e.requeue = slices.Insert(e.requeue, j, i)
	}
}

// AssignTasks applies a TaskAssign and returns the leases it granted: a
// lease is skipped unless its task is queued, its job active and not
// paused, and its attempt exactly one more than the task's; nothing is
// granted to a drained node (or a gang with one). With Peers the leases are
// gang leases: every peer holds them, Node (rank 0) is the Assignee.
func (s *Store) AssignTasks(index uint64, c protocol.TaskAssign) []protocol.TaskNext {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	var granted []protocol.TaskNext
	if s.drained(c.Node, c.Peers) {
		return nil // drained after the pick: the FSM has the last word
	}
	for _, l := range c.Leases {
		e, err := s.activeJob(l.Job)
		if err != nil || e.job.Paused { // paused after the pick
			continue
		}
		t, ok := e.task(l.Shard)
		if !ok || t.State != protocol.TaskQueued || l.Attempt != t.Attempt+1 {
			continue
		}
		e.dequeue(l.Shard)
		t.State, t.Attempt, t.Assignee, t.Deadline, t.Progress = protocol.TaskLeased, l.Attempt, c.Node, l.Deadline, 0
		t.Peers = slices.Clone(c.Peers)
		e.tasks[l.Shard] = t
		e.leased[l.Shard] = struct{}{}
		e.counts.Queued--
		e.counts.Leased++
		if e.job.State == protocol.JobQueued {
			e.job.State = protocol.JobRunning
		}
		if e.job.StartedAt.IsZero() { // the run's first lease (protocol.Job)
			e.job.StartedAt, e.job.StartedImages = c.At, e.job.ImagesDone
		}
		e.job.UpdatedAt = c.At
		s.stats.Leases++
		granted = append(granted, l)
	}
	return granted
}

// dequeue removes shard i from the queue (requeue set or cursor).
func (e *jobEntry) dequeue(i int) {
	if j, ok := slices.BinarySearch(e.requeue, i); ok {
		e.requeue = slices.Delete(e.requeue, j, j+1)
		return
	}
	// Shards between the cursor and i become materialized queued tasks
	// (only when the scheduler skips some: it normally takes them in order).
	for k := e.cursor; k < i; k++ {
		t, _ := e.task(k)
		e.tasks[k] = t
		e.requeue = append(e.requeue, k)
	}
	e.cursor = max(e.cursor, i+1)
}

// current returns the leased task k if attempt is its current attempt.
func (e *jobEntry) current(k protocol.TaskKey, attempt int) (protocol.Task, error) {
	t, ok := e.task(k.Shard)
	switch {
	case !ok:
		return t, protocol.Errorf(protocol.CodeNotFound, "task %s not found", k)
	case t.Attempt != attempt || t.State != protocol.TaskLeased:
		return t, protocol.Errorf(protocol.CodeStaleAttempt, "task %s: attempt %d is not current (attempt %d, %s)",
			k, attempt, t.Attempt, t.State)
	}
	return t, nil
}

// UpdateProgress applies a TaskProgress batch: each current attempt gets
// its deadline extended and its images done; stale updates are skipped.
// It returns how many updates applied.
func (s *Store) UpdateProgress(index uint64, c protocol.TaskProgress) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	n := 0
	for _, u := range c.Updates {
		e, err := s.activeJob(u.Job)
		if err != nil {
			continue
		}
		t, err := e.current(u.TaskKey, u.Attempt)
		if err != nil {
			continue
		}
		e.job.ImagesDone += int64(u.Done - t.Progress)
		t.Progress = u.Done
		if u.Deadline.After(t.Deadline) {
			t.Deadline = u.Deadline
		}
		e.tasks[u.Shard] = t
		n++
	}
	return n
}

// CompleteTask records a shard's result (TaskComplete) if the attempt is
// current; the job is done when its last shard is.
func (s *Store) CompleteTask(index uint64, c protocol.TaskComplete) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	e, err := s.activeJob(c.Job)
	if err != nil {
		return err
	}
	t, err := e.current(c.TaskKey, c.Attempt)
	if err != nil {
		return err
	}
	// The object keys are dropped here too (the leader drops them before
	// proposing; older leaders and log entries did not): counts, bytes
	// and a digest stay (docs/scale.md).
	res := c.Result.Compact()
	t.State, t.Result, t.Deadline = protocol.TaskDone, &res, c.At
	e.job.ImagesDone += int64(res.Images - t.Progress)
	t.Progress = res.Images
	e.tasks[c.Shard] = t
	delete(e.leased, c.Shard)
	e.counts.Leased--
	e.counts.Done++
	e.job.ShardsDone++
	e.job.UpdatedAt = c.At
	s.stats.Completions++
	s.stats.ImagesDone += int64(res.Images)
	if e.job.ShardsDone == e.job.Shards {
		e.finish(protocol.JobDone, "", c.At)
		s.markDone(c.Job)
		s.reindex(c.Job)
	}
	return nil
}

// FailTask ends the current attempt without a result (TaskFail): the task
// is requeued, or fails the job once its attempts are exhausted. A failure
// with c.NoFault (CmdTaskRequeue) neither strikes the node nor counts
// toward MaxAttempts; one with c.NodeFault (CmdTaskNodeFault) strikes the
// node but does not count: both up to protocol.MaxNoFaultRequeues per
// task, together.
func (s *Store) FailTask(index uint64, c protocol.TaskFail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	e, err := s.activeJob(c.Job)
	if err != nil {
		return err
	}
	t, err := e.current(c.TaskKey, c.Attempt)
	if err != nil {
		return err
	}
	node := c.Node
	if node == "" {
		node = t.Assignee
	}
	// Past MaxNoFaultRequeues a requeue without a fault counts like any
	// failure, so that the job still ends.
	noFault := (c.NoFault || c.NodeFault) && t.NoFaultFailures() < protocol.MaxNoFaultRequeues
	t.Failures = append(t.Failures[:len(t.Failures):len(t.Failures)],
		protocol.Failure{Attempt: c.Attempt, Node: node, Reason: c.Reason, NoFault: noFault, NodeFault: c.NodeFault})
	if !c.NoStrike && !c.NoFault && (len(t.Peers) == 0 || c.NodeFault) {
		// A gang attempt fails on every rank when one is lost, so its
		// failures do not blocklist the reporting node — unless the node
		// says the failure is its own (a full disk): else the same gang
		// would be formed with it again and again.
		e.fails[node]++
	}
	e.job.ImagesDone -= int64(t.Progress)
	t.Progress, t.Assignee, t.Peers, t.Deadline = 0, "", nil, c.At
	delete(e.leased, c.Shard)
	e.counts.Leased--
	e.job.UpdatedAt = c.At
	s.stats.Failures++
	if noFault {
		s.stats.NoFault++
	}
	if c.NodeFault {
		s.stats.NodeFault++
	}
	if t.CountedFailures() >= e.job.Spec.EffectiveMaxAttempts() {
		t.State = protocol.TaskFailed
		e.tasks[c.Shard] = t
		e.counts.Failed++
		e.finish(protocol.JobFailed, fmt.Sprintf("shard %d failed %d attempts, last: %s", c.Shard, t.CountedFailures(), c.Reason), c.At)
		s.markDone(c.Job)
		s.reindex(c.Job)
		return nil
	}
	t.State = protocol.TaskQueued
	e.tasks[c.Shard] = t
	e.requeueShard(c.Shard)
	e.counts.Queued++
	s.stats.Retries++
	return nil
}
