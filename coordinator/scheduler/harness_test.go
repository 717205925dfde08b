package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// memState is an in-memory State with the coordinator's task lifecycle
// (queued → leased → done, or back to queued on failure), checking every
// lease it commits. A job's never-leased shards are a range [fresh, total),
// so a benchmark can hold millions of queued tasks in a few bytes.
type memState struct {
	jobs []*memJob
	byID map[protocol.JobID]*memJob
	// shuffle, when set, makes ActiveJobs return its jobs in random order
	// (the scheduler must not depend on it).
	shuffle *rand.Rand
	// active caches ActiveJobs between job changes, the way a real state
	// store can share one read-only slice (Pick never writes to it).
	active []protocol.Job
	// Call accounting, to check that Pick does not scan every queue.
	queuedCalls, queuedReturned, leasedCalls int
}

type memJob struct {
	job         protocol.Job
	total       int
	fresh       int             // shards [fresh, total) were never leased
	requeued    []protocol.Task // queued retries, in shard order (all < fresh)
	leased      map[int]lease
	attempt     map[int]int // current attempt of each shard ever leased
	done        map[int]bool
	failures    map[string]int
	maxAttempts int
	leases      int // leases committed (for the exactly-once check)
}

type lease struct {
	node    string
	attempt int
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newMemState() *memState { return &memState{byID: map[protocol.JobID]*memJob{}} }

// add creates a job with the given number of queued shards; created orders
// jobs by age (seconds after t0).
func (s *memState) add(id string, prio int, model string, shards int, created int) *memJob {
	j := &memJob{
		job: protocol.Job{ID: protocol.JobID(id), State: protocol.JobQueued, Shards: shards,
			CreatedAt: t0.Add(time.Duration(created) * time.Second),
			Spec:      protocol.JobSpec{Model: model, Priority: prio}},
		total: shards, leased: map[int]lease{}, attempt: map[int]int{}, done: map[int]bool{},
		failures: map[string]int{}, maxAttempts: protocol.DefaultMaxAttempts,
	}
	s.jobs = append(s.jobs, j)
	s.byID[j.job.ID] = j
	s.active = nil
	return j
}

// ActiveJobs implements State.
func (s *memState) ActiveJobs() []protocol.Job {
	if s.active != nil && s.shuffle == nil {
		return s.active
	}
	out := make([]protocol.Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		if !j.job.State.Terminal() {
			out = append(out, j.job)
		}
	}
	if s.shuffle != nil {
		s.shuffle.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	}
	s.active = out
	return out
}

// setState changes a job's state and drops the ActiveJobs cache.
func (s *memState) setState(j *memJob, state protocol.JobState, msg string) {
	j.job.State, j.job.Error = state, msg
	s.active = nil
}

// QueuedTasks implements State: retries first (they have the lower shard
// numbers), then never-leased shards.
func (s *memState) QueuedTasks(id protocol.JobID, limit int) []protocol.Task {
	s.queuedCalls++
	j := s.byID[id]
	if j == nil || limit <= 0 {
		return nil
	}
	out := make([]protocol.Task, 0, min(limit, j.queued()))
	out = append(out, j.requeued[:min(limit, len(j.requeued))]...)
	for sh := j.fresh; sh < j.total && len(out) < limit; sh++ {
		out = append(out, j.task(sh))
	}
	s.queuedReturned += len(out)
	return out
}

// LeasedCount implements State.
func (s *memState) LeasedCount(id protocol.JobID) int {
	s.leasedCalls++
	if j := s.byID[id]; j != nil {
		return len(j.leased)
	}
	return 0
}

// FailuresOn implements State.
func (s *memState) FailuresOn(id protocol.JobID, node string) int {
	if j := s.byID[id]; j != nil {
		return j.failures[node]
	}
	return 0
}

var _ State = (*memState)(nil)

func (j *memJob) queued() int { return len(j.requeued) + j.total - j.fresh }

func (j *memJob) task(shard int) protocol.Task {
	return protocol.Task{TaskKey: protocol.TaskKey{Job: j.job.ID, Shard: shard},
		Start: int64(shard) * 64, End: int64(shard+1) * 64, State: protocol.TaskQueued, Attempt: j.attempt[shard]}
}

// requeue puts shards back as retries with the given attempt number.
func (j *memJob) requeue(attempt int, shards ...int) {
	for _, sh := range shards {
		j.attempt[sh] = attempt
		if sh >= j.fresh {
			j.fresh = sh + 1 // test setups only requeue a prefix
		}
		j.requeued = append(j.requeued, j.task(sh))
	}
	slices.SortFunc(j.requeued, func(a, b protocol.Task) int { return a.Shard - b.Shard })
}

// lease marks n tasks as leased elsewhere without going through Pick.
func (j *memJob) leaseN(n int, node string) {
	for range n {
		sh := j.fresh
		j.fresh++
		j.attempt[sh] = 1
		j.leased[sh] = lease{node: node, attempt: 1}
	}
}

// commit applies leases as the coordinator would (TaskAssign), failing the
// test on any lease of a task that is not queued or has the wrong attempt.
func (s *memState) commit(tb testing.TB, node string, leases []protocol.TaskNext) {
	tb.Helper()
	for _, l := range leases {
		j := s.byID[l.Job]
		if j == nil {
			tb.Fatalf("lease of unknown job: %v", l.TaskKey)
		}
		if _, ok := j.leased[l.Shard]; ok || j.done[l.Shard] {
			tb.Fatalf("lease of %v: task is not queued (leased or done)", l.TaskKey)
		}
		if want := j.attempt[l.Shard] + 1; l.Attempt != want {
			tb.Fatalf("lease of %v: attempt %d, want %d", l.TaskKey, l.Attempt, want)
		}
		if err := j.dequeue(l.Shard); err != nil {
			tb.Fatalf("lease of %v: %v", l.TaskKey, err)
		}
		j.attempt[l.Shard] = l.Attempt
		j.leased[l.Shard] = lease{node: node, attempt: l.Attempt}
		j.leases++
		if j.job.State == protocol.JobQueued {
			s.setState(j, protocol.JobRunning, "")
		}
	}
}

func (j *memJob) dequeue(shard int) error {
	if i := slices.IndexFunc(j.requeued, func(t protocol.Task) bool { return t.Shard == shard }); i >= 0 {
		j.requeued = slices.Delete(j.requeued, i, i+1)
		return nil
	}
	if shard != j.fresh || shard >= j.total {
		return fmt.Errorf("shard %d is not next in queue (fresh %d of %d)", shard, j.fresh, j.total)
	}
	j.fresh++
	return nil
}

// complete ends a lease successfully (TaskComplete of the current attempt).
func (s *memState) complete(tb testing.TB, key protocol.TaskKey) {
	tb.Helper()
	j := s.byID[key.Job]
	if _, ok := j.leased[key.Shard]; !ok || j.done[key.Shard] {
		tb.Fatalf("completion of %v: not leased", key)
	}
	delete(j.leased, key.Shard)
	j.done[key.Shard] = true
	if len(j.done) == j.total {
		s.setState(j, protocol.JobDone, "")
	}
}

// fail ends a lease without a result (TaskFail): the node's failure counts
// toward the blocklist, and the task is requeued unless attempts ran out.
func (s *memState) fail(tb testing.TB, key protocol.TaskKey) {
	tb.Helper()
	j := s.byID[key.Job]
	l, ok := j.leased[key.Shard]
	if !ok {
		tb.Fatalf("failure of %v: not leased", key)
	}
	delete(j.leased, key.Shard)
	j.failures[l.node]++
	if l.attempt >= j.maxAttempts {
		s.setState(j, protocol.JobFailed, "attempts exhausted")
		return
	}
	j.requeued = append(j.requeued, j.task(key.Shard))
	slices.SortFunc(j.requeued, func(a, b protocol.Task) int { return a.Shard - b.Shard })
}

// gpuNode returns a CUDA node with one GPU per free-memory value (GiB).
func gpuNode(id string, freeGiB ...uint64) protocol.NodeInfo {
	n := protocol.NodeInfo{ID: id, Backend: "cuda", Slots: len(freeGiB)}
	for i, f := range freeGiB {
		n.GPUs = append(n.GPUs, protocol.GPUInfo{Index: i, Name: "H100", MemoryTotal: 80 * gib, MemoryFree: f * gib})
	}
	return n
}

func cpuNode(id string) protocol.NodeInfo {
	return protocol.NodeInfo{ID: id, Backend: "cpu", Slots: 1}
}

// keys renders leases as "job/shard@attempt" for compact expectations.
func keys(leases []protocol.TaskNext) []string {
	out := make([]string, len(leases))
	for i, l := range leases {
		out[i] = fmt.Sprintf("%s/%d@%d", l.Job, l.Shard, l.Attempt)
	}
	return out
}
