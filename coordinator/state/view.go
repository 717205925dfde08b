package state

import (
	"github.com/sanafarm/sanafarm/protocol"
)

// View is the read-only view the scheduler consumes (it implements
// scheduler.State). It reads the live store; each call is consistent on
// its own.
type View struct{ s *Store }

// View returns the scheduler's view of the store.
func (s *Store) View() View { return View{s: s} }

// ActiveJobs returns the runnable jobs (non-terminal, not paused: a paused
// job is never picked) in submission order, from the runnable index:
// O(runnable jobs), whatever the history (runnable.go).
func (v View) ActiveJobs() []protocol.Job {
	v.s.mu.RLock()
	defer v.s.mu.RUnlock()
	return v.s.indexed(v.s.runnable)
}

// QueuedTasks returns up to limit queued tasks of an active job in shard
// order (limit <= 0: none).
func (v View) QueuedTasks(job protocol.JobID, limit int) []protocol.Task {
	v.s.mu.RLock()
	defer v.s.mu.RUnlock()
	e, ok := v.s.jobs[job]
	if !ok || e.job.State.Terminal() || limit <= 0 {
		return nil
	}
	var out []protocol.Task
	for _, i := range e.requeue {
		if len(out) == limit {
			return out
		}
		out = append(out, e.tasks[i])
	}
	for i := e.cursor; i < e.job.Shards && len(out) < limit; i++ {
		t, _ := e.task(i)
		out = append(out, t)
	}
	return out
}

// LeasedCount returns how many of a job's tasks are leased.
func (v View) LeasedCount(job protocol.JobID) int {
	v.s.mu.RLock()
	defer v.s.mu.RUnlock()
	if e, ok := v.s.jobs[job]; ok {
		return len(e.leased)
	}
	return 0
}

// FailuresOn returns the failed attempts of a job on a node.
func (v View) FailuresOn(job protocol.JobID, node string) int {
	v.s.mu.RLock()
	defer v.s.mu.RUnlock()
	if e, ok := v.s.jobs[job]; ok {
		return e.fails[node]
	}
	return 0
}
