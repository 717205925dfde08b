package coordinator

import (
	"sync"

	"github.com/sanafarm/sanafarm/protocol"
)

// Lease requests are picked one at a time but committed concurrently: a
// pick takes microseconds while a Raft commit through 3 voters takes
// milliseconds, and raft batches concurrent applies into one log write.
// Picked tasks stay reserved until their TaskAssign is applied, so a later
// pick (which reads the live store, where they still look queued) skips
// them instead of losing its lease to the FSM's fencing.
type reservations struct {
	pick sync.Mutex // serialises Pick + reserve

	mu    sync.Mutex
	keys  map[protocol.TaskKey]struct{}
	byJob map[protocol.JobID]int
}

func newReservations() *reservations {
	return &reservations{keys: map[protocol.TaskKey]struct{}{}, byJob: map[protocol.JobID]int{}}
}

func (r *reservations) add(leases []protocol.TaskNext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range leases {
		r.keys[l.TaskKey] = struct{}{}
		r.byJob[l.Job]++
	}
}

func (r *reservations) release(leases []protocol.TaskNext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range leases {
		if _, ok := r.keys[l.TaskKey]; !ok {
			continue
		}
		delete(r.keys, l.TaskKey)
		if r.byJob[l.Job]--; r.byJob[l.Job] <= 0 {
			delete(r.byJob, l.Job)
		}
	}
}

// view overlays the reservations on a scheduler state: reserved tasks are
// not queued, and they count as leased for fair share.
func (r *reservations) view(st SchedulerState) SchedulerState {
	return reservedView{st: st, r: r}
}

type reservedView struct {
	st SchedulerState
	r  *reservations
}

func (v reservedView) ActiveJobs() []protocol.Job { return v.st.ActiveJobs() }

func (v reservedView) FailuresOn(job protocol.JobID, node string) int {
	return v.st.FailuresOn(job, node)
}

func (v reservedView) LeasedCount(job protocol.JobID) int {
	v.r.mu.Lock()
	n := v.r.byJob[job]
	v.r.mu.Unlock()
	return v.st.LeasedCount(job) + n
}

func (v reservedView) QueuedTasks(job protocol.JobID, limit int) []protocol.Task {
	v.r.mu.Lock()
	skip := v.r.byJob[job]
	v.r.mu.Unlock()
	ts := v.st.QueuedTasks(job, limit+skip)
	out := ts[:0:0]
	v.r.mu.Lock()
	defer v.r.mu.Unlock()
	for _, t := range ts {
		if _, reserved := v.r.keys[t.TaskKey]; !reserved && len(out) < limit {
			out = append(out, t)
		}
	}
	return out
}
