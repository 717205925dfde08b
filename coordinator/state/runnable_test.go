package state

import (
	"fmt"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/scheduler"
	"github.com/sanafarm/sanafarm/protocol"
)

// countingView counts the jobs a pick asks the state about.
type countingView struct {
	View
	asked map[protocol.JobID]bool
}

func (v countingView) QueuedTasks(job protocol.JobID, limit int) []protocol.Task {
	v.asked[job] = true
	return v.View.QueuedTasks(job, limit)
}

func (v countingView) LeasedCount(job protocol.JobID) int {
	v.asked[job] = true
	return v.View.LeasedCount(job)
}

func (v countingView) FailuresOn(job protocol.JobID, node string) int {
	v.asked[job] = true
	return v.View.FailuresOn(job, node)
}

// TestPickVisitsOnlyRunnable: with 1,000 finished jobs (done, failed,
// cancelled) and a paused one in the state, a pick visits only the
// runnable jobs — counted, not timed (docs/scale.md).
func TestPickVisitsOnlyRunnable(t *testing.T) {
	s := New()
	idx := uint64(0)
	submit := func(id protocol.JobID) {
		t.Helper()
		idx++
		if err := s.UpsertJob(idx, protocol.JobSubmit{Job: protocol.Job{ID: id, Spec: spec(2, 1)}, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		id := protocol.JobID(fmt.Sprintf("old-%04d", i))
		submit(id)
		idx++
		switch i % 3 {
		case 0:
			completeAll(t, s, id)
		case 1:
			_ = s.CancelJob(idx, protocol.JobCancel{ID: id, Failed: true, Reason: "x", At: t0})
		default:
			_ = s.CancelJob(idx, protocol.JobCancel{ID: id, At: t0})
		}
	}
	for _, id := range []protocol.JobID{"run-a", "run-b", "paused"} {
		submit(id)
	}
	idx++
	if err := s.PauseJob(idx, protocol.JobPause{ID: "paused", Paused: true, At: t0}); err != nil {
		t.Fatal(err)
	}
	s.AssignTasks(idx+1, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("run-b", 0, 1)}, At: t0})

	v := countingView{View: s.View(), asked: map[protocol.JobID]bool{}}
	before := s.visits.Load()
	got := scheduler.New(scheduler.Config{}).Pick(v, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n2"}, Free: 4}, t0)
	visited := s.visits.Load() - before
	if len(got) != 3 {
		t.Fatalf("picked %v, want the 3 queued shards of run-a and run-b", got)
	}
	if visited != 2 {
		t.Fatalf("the pick listed %d jobs, want the 2 runnable ones", visited)
	}
	for id := range v.asked {
		if id != "run-a" && id != "run-b" {
			t.Fatalf("the pick asked about job %s", id)
		}
	}
	if n := len(s.LeasedTasks()); n != 1 {
		t.Fatalf("%d leased tasks, want 1", n)
	}
	// Resuming, retrying and restoring keep the index right.
	_ = s.PauseJob(idx+2, protocol.JobPause{ID: "paused", Paused: false, At: t0})
	_ = s.RetryJob(idx+3, protocol.JobRetry{ID: "old-0001", At: t0})
	if ids := jobIDs(s.View().ActiveJobs()); fmt.Sprint(ids) != "[old-0001 run-a run-b paused]" {
		t.Fatalf("runnable jobs %v", ids)
	}
	assertRoundTrip(t, s)
	r := New()
	r.Replace(s)
	if ids := jobIDs(r.View().ActiveJobs()); fmt.Sprint(ids) != "[old-0001 run-a run-b paused]" {
		t.Fatalf("runnable jobs after restore %v", ids)
	}
}

func jobIDs(jobs []protocol.Job) []protocol.JobID {
	out := make([]protocol.JobID, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func TestJobsPage(t *testing.T) {
	s := New()
	for i := range 7 {
		if err := s.UpsertJob(uint64(i+1), protocol.JobSubmit{Job: protocol.Job{ID: protocol.JobID(fmt.Sprintf("j%d", i)), Spec: spec(1, 1)}, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.CancelJob(20, protocol.JobCancel{ID: "j5", At: t0})
	_ = s.CancelJob(21, protocol.JobCancel{ID: "j2", At: t0})
	if _, err := s.DeleteJobs(22, protocol.JobDelete{IDs: []protocol.JobID{"j2"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		state      protocol.JobState
		after      protocol.JobID
		limit      int
		want, next string
	}{
		{"", "", 3, "[j6 j5 j4]", "j4"},
		{"", "j4", 3, "[j3 j1 j0]", ""},
		{"", "j4", 2, "[j3 j1]", "j1"},
		{"", "j0", 3, "[]", ""},
		{protocol.JobQueued, "", 2, "[j6 j4]", "j4"},
		{protocol.JobQueued, "j4", 10, "[j3 j1 j0]", ""},
		{protocol.JobCancelled, "", 1, "[j5]", ""},
	} {
		jobs, next, ok := s.JobsPage(tc.state, tc.after, tc.limit)
		if got := fmt.Sprint(jobIDs(jobs)); !ok || got != tc.want || string(next) != tc.next {
			t.Errorf("JobsPage(%q, %q, %d) = %s next %q (%v), want %s next %q", tc.state, tc.after, tc.limit, got, next, ok, tc.want, tc.next)
		}
	}
	if jobs, next, ok := s.JobsPage("", "j2", 3); !ok || fmt.Sprint(jobIDs(jobs)) != "[j1 j0]" || next != "" {
		t.Errorf("a deleted cursor: %v next %q (%v), want the jobs submitted before it", jobIDs(jobs), next, ok)
	}
	if _, _, ok := s.JobsPage("", "j9", 3); ok {
		t.Error("a cursor naming no job ever submitted was accepted")
	}
}
