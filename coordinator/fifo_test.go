package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// fifo is a minimal PickFunc, the simplest thing Config.Pick accepts
// instead of the scheduler: jobs by priority (higher first), then
// submission order; tasks in shard order; nothing for draining nodes.
// It lives in a test file so that production builds have one scheduler.
func fifo(leaseTTL time.Duration) PickFunc {
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

func TestFIFO(t *testing.T) {
	st := state.New()
	low, high := testSpec(4), testSpec(2)
	high.Priority = 5
	_ = st.UpsertJob(1, protocol.JobSubmit{Job: protocol.Job{ID: "low", Spec: low}, At: t0})
	_ = st.UpsertJob(2, protocol.JobSubmit{Job: protocol.Job{ID: "high", Spec: high}, At: t0})
	pick := fifo(time.Minute)
	cases := []struct {
		name string
		req  protocol.LeaseRequest
		want []protocol.TaskKey
	}{
		{"draining", protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n", Draining: true}, Free: 3}, nil},
		{"priority first, then submission order", protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n"}, Free: 3},
			[]protocol.TaskKey{{Job: "high", Shard: 0}, {Job: "low", Shard: 0}, {Job: "low", Shard: 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pick(st.View(), c.req, t0)
			if len(got) != len(c.want) {
				t.Fatalf("picked %v, want %v", got, c.want)
			}
			for i, l := range got {
				if l.TaskKey != c.want[i] || l.Attempt != 1 || !l.Deadline.Equal(t0.Add(time.Minute)) {
					t.Errorf("lease %d = %+v, want %v attempt 1", i, l, c.want[i])
				}
			}
		})
	}
}
