// Package state is the coordinator's in-memory state store: jobs, their
// shard tasks, leases and counters. The Raft FSM is its only writer (one
// apply method per command, deterministic: time comes only from the
// command's At); everyone else reads.
//
// Huge jobs: a job with millions of shards must submit in O(1), so tasks
// are stored sparsely. Shards at or after a job's cursor that were never
// touched are implied queued (their Task is computed from the spec); a task
// is materialized only when it is leased. A task that returns to the queue
// (lease expiry, node loss, reported failure) stays materialized and joins
// the job's requeue set, which always holds shards below the cursor, so
// "requeued, then the cursor range" is shard order.
//
// Concurrency and snapshots: a Store is safe for concurrent use. Snapshot
// returns an immutable view in O(jobs): it bumps the store's generation,
// and the first write to a job after that clones the job's entry
// (copy-on-write), so the view never changes while Raft's Persist streams
// it concurrently with later Applies.
package state

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Stats are cluster-wide counters, replicated through the log so that they
// survive leader changes (exported as Prometheus counters).
type Stats struct {
	Leases      int64 `json:"leases"`      // tasks assigned
	Completions int64 `json:"completions"` // shards done
	Retries     int64 `json:"retries"`     // attempts that ended without a result and were requeued
	Failures    int64 `json:"failures"`    // attempts that ended without a result
	// NoFault counts the failures not counted toward max attempts
	// (protocol.Failure.NoFault: hand-backs, disables, lost replies).
	NoFault int64 `json:"no_fault,omitempty"`
	// NodeFault counts the failures nodes reported as their own
	// (protocol.Failure.NodeFault: a full disk, a model over the node's
	// limit, a location outside its allow-lists).
	NodeFault  int64 `json:"node_fault,omitempty"`
	ImagesDone int64 `json:"images_done"` // images of done shards
}

// jobEntry is one job and its sparse tasks. Entries shared with a snapshot
// are never written: writers clone them first (see Store.writable).
type jobEntry struct {
	gen     uint64
	seq     uint64 // submission sequence (runnable.go)
	job     protocol.Job
	tasks   map[int]protocol.Task // materialized tasks (values: copy on write)
	cursor  int                   // shards >= cursor are implied queued
	requeue []int                 // sorted queued shards below cursor
	leased  map[int]struct{}      // shards currently leased
	fails   map[string]int        // failed attempts per node
	counts  TaskCounts
	est     int64 // what its spec counts for in Store.estBytes (specsize.go)
}

// TaskCounts counts a job's tasks by state.
type TaskCounts struct {
	Queued int `json:"queued"`
	Leased int `json:"leased"`
	Done   int `json:"done"`
	Failed int `json:"failed"`
}

func (e *jobEntry) clone(gen uint64) *jobEntry {
	c := *e
	c.gen = gen
	c.tasks = maps.Clone(e.tasks)
	c.requeue = slices.Clone(e.requeue)
	c.leased = maps.Clone(e.leased)
	c.fails = maps.Clone(e.fails)
	return &c
}

// task returns shard i's task, implied or materialized.
func (e *jobEntry) task(i int) (protocol.Task, bool) {
	if i < 0 || i >= e.job.Shards {
		return protocol.Task{}, false
	}
	if t, ok := e.tasks[i]; ok {
		return t, true
	}
	start, end := e.job.Spec.SampleRange(i)
	return protocol.Task{TaskKey: protocol.TaskKey{Job: e.job.ID, Shard: i}, Start: start, End: end,
		State: protocol.TaskQueued}, true
}

// Store holds the state. The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex
	gen   uint64
	index uint64 // last applied Raft index
	jobs  map[protocol.JobID]*jobEntry
	order []protocol.JobID // submission order
	seq   uint64           // the next job's submission sequence
	// active and runnable index the jobs a pick or a submit looks at
	// (runnable.go); visits counts the jobs those listings return.
	active, runnable map[protocol.JobID]uint64
	visits           atomic.Int64
	stats            Stats
	// unmanifested holds the done jobs whose manifest is not recorded
	// (derived from jobs; see lifecycle.go); doneCh wakes its waiter.
	unmanifested map[protocol.JobID]struct{}
	doneCh       chan struct{}
	// nodes are the nodes' control states (control.go); the map is
	// replaced, never written, so a snapshot may share it.
	nodes map[string]protocol.NodeControl
	// features are the gated features the log used, with the index of
	// the first use (features.go); replaced, never written, like nodes.
	features map[string]uint64
	// graves remember where recently deleted jobs stood, so a listing
	// cursor naming one still pages on (pages.go); derived, not
	// snapshotted.
	graves graveyard
	// specBytes and estBytes add up the held jobs' spec sizes, recorded
	// and estimated (specsize.go); derived, not snapshotted.
	specBytes, estBytes int64
}

// New returns an empty store.
func New() *Store {
	return &Store{jobs: map[protocol.JobID]*jobEntry{}, unmanifested: map[protocol.JobID]struct{}{},
		doneCh: make(chan struct{}, 1), nodes: map[string]protocol.NodeControl{},
		active: map[protocol.JobID]uint64{}, runnable: map[protocol.JobID]uint64{}}
}

// writable returns job id's entry for writing, cloning it first if a
// snapshot may share it. Callers hold s.mu.
func (s *Store) writable(id protocol.JobID) *jobEntry {
	e, ok := s.jobs[id]
	if !ok {
		return nil
	}
	if e.gen != s.gen {
		e = e.clone(s.gen)
		s.jobs[id] = e
	}
	return e
}

// Index is the Raft index of the last applied command.
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// JobByID returns a job.
func (s *Store) JobByID(id protocol.JobID) (protocol.Job, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.jobs[id]
	if !ok {
		return protocol.Job{}, false
	}
	return e.job, true
}

// Jobs returns every job in submission order, optionally only those in
// state (state "" = all).
func (s *Store) Jobs(state protocol.JobState) []protocol.Job {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return jobsOf(s.jobs, s.order, func(j protocol.Job) bool { return state == "" || j.State == state })
}

// JobIDs returns every job's id in submission order (no copies of the
// jobs: cheap for callers that need few of them).
func (s *Store) JobIDs() []protocol.JobID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.order)
}

func jobsOf(jobs map[protocol.JobID]*jobEntry, order []protocol.JobID, keep func(protocol.Job) bool) []protocol.Job {
	out := []protocol.Job{}
	for _, id := range order {
		if j := jobs[id].job; keep(j) {
			out = append(out, j)
		}
	}
	return out
}

// TaskCounts returns a job's task counts by state.
func (s *Store) TaskCounts(id protocol.JobID) (TaskCounts, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.jobs[id]
	if !ok {
		return TaskCounts{}, false
	}
	return e.counts, true
}

// TaskByKey returns one task (implied queued tasks included).
func (s *Store) TaskByKey(k protocol.TaskKey) (protocol.Task, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.jobs[k.Job]
	if !ok {
		return protocol.Task{}, false
	}
	return e.task(k.Shard)
}

// TasksByJob returns up to limit tasks of a job from shard `from` on, in
// shard order (limit <= 0: all; beware of huge jobs).
func (s *Store) TasksByJob(id protocol.JobID, from, limit int) []protocol.Task {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.jobs[id]
	if !ok {
		return nil
	}
	n := e.job.Shards - max(from, 0)
	if limit > 0 {
		n = min(n, limit)
	}
	// Grown by append, never sized from limit: a caller's limit may be
	// far above what is worth allocating up front.
	out := make([]protocol.Task, 0, min(max(n, 0), 1024))
	for i := max(from, 0); len(out) < n; i++ {
		t, _ := e.task(i)
		out = append(out, t)
	}
	return out
}

// LeasesByNode returns the tasks currently leased to each node (a gang
// task under each of its peers).
func (s *Store) LeasesByNode() map[string][]protocol.Task {
	out := map[string][]protocol.Task{}
	for _, t := range s.LeasedTasks() {
		if len(t.Peers) == 0 {
			out[t.Assignee] = append(out[t.Assignee], t)
			continue
		}
		for _, p := range t.Peers {
			out[p] = append(out[p], t)
		}
	}
	return out
}

// TimedOut returns the active jobs (paused ones included) whose run's
// timeout (JobSpec.Timeout) has passed at now, in no particular order.
// It walks the active index, never the history.
func (s *Store) TimedOut(now time.Time) []protocol.Job {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []protocol.Job
	for id := range s.active {
		j := s.jobs[id].job
		if at := j.TimeoutAt(); !at.IsZero() && !now.Before(at) {
			out = append(out, j)
		}
	}
	return out
}

// LeasedTasks returns every leased task once, in job and shard order (for
// the lease-expiry scanner). Only active jobs hold leases (finish returns
// a job's leases to the queue), so it walks the active index.
func (s *Store) LeasedTasks() []protocol.Task {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []protocol.Task
	for _, id := range s.indexedIDs(s.active) {
		e := s.jobs[id]
		for _, i := range slices.Sorted(maps.Keys(e.leased)) {
			out = append(out, e.tasks[i])
		}
	}
	return out
}
