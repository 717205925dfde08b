package coordinator

import (
	"slices"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// FIFO is a minimal PickFunc (tests, debugging): jobs by
// priority (higher first), then submission order; tasks in shard order;
// nothing for draining nodes.
func FIFO(leaseTTL time.Duration) PickFunc {
	return func(st SchedulerState, req protocol.LeaseRequest, now time.Time) []protocol.TaskNext {
		if req.Node.Draining || req.Free <= 0 {
			return nil
		}
		jobs := st.ActiveJobs()
		slices.SortStableFunc(jobs, func(a, b protocol.Job) int { return b.Spec.Priority - a.Spec.Priority })
		var out []protocol.TaskNext
		for _, j := range jobs {
			for _, t := range st.QueuedTasks(j.ID, req.Free-len(out)) {
				out = append(out, protocol.TaskNext{TaskKey: t.TaskKey, Attempt: t.Attempt + 1, Deadline: now.Add(leaseTTL)})
			}
			if len(out) >= req.Free {
				break
			}
		}
		return out
	}
}
