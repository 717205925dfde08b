package coordinator

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/scheduler"
	"github.com/sanafarm/sanafarm/protocol"
)

// A job always ends (docs/architecture.md, failure model): the leader
// fails a job whose queued tasks no live node may run — blocklisted on
// every live node, a model larger than every GPU, or a gang job with
// fewer placeable nodes than its degree — instead of leaving it running
// forever. Attempts exhausted already fail a job in the FSM.
//
// The check runs on every leader tick over the active jobs with queued
// tasks (scheduler.Unplaceable against the live nodes from etcd). A job
// must stay unplaceable for stuckGrace ticks (gang jobs: GangTimeout)
// before it fails, so a node that is re-announcing or a node view still
// filling after an election does not fail anything. With no live node at
// all the job keeps waiting: nodes may all be restarting.

// stuckGraceTicks is how many leader ticks a job must stay unplaceable.
const stuckGraceTicks = 5

// maxJobError bounds the error a failed job records.
const maxJobError = 2048

// stuckJobs is the leader's memory of when each job became unplaceable.
type stuckJobs struct {
	sched *scheduler.Scheduler
	since map[protocol.JobID]time.Time
}

func (s *Server) newStuckJobs() *stuckJobs {
	return &stuckJobs{sched: scheduler.New(s.cfg.Scheduler), since: map[protocol.JobID]time.Time{}}
}

// failStuckJobs fails the jobs that stayed unplaceable past their grace.
func (s *Server) failStuckJobs(ctx context.Context, sj *stuckJobs) {
	now := s.cfg.Clock()
	nodes := s.liveNodes() // drained nodes cannot place a job
	live := make([]protocol.NodeInfo, 0, len(nodes))
	for _, id := range slices.Sorted(maps.Keys(nodes)) {
		live = append(live, nodes[id])
	}
	view := s.store.View()
	active := map[protocol.JobID]bool{}
	for _, j := range view.ActiveJobs() {
		active[j.ID] = true
		why := ""
		if c, _ := s.store.TaskCounts(j.ID); c.Queued > 0 {
			why = sj.sched.Unplaceable(view, j, live)
		}
		if why == "" {
			delete(sj.since, j.ID)
			continue
		}
		first, ok := sj.since[j.ID]
		if !ok {
			sj.since[j.ID] = now
			continue
		}
		grace := stuckGraceTicks * s.cfg.ProgressInterval
		if j.Spec.Ranks() > 1 {
			grace = max(grace, s.cfg.GangTimeout)
		}
		if now.Sub(first) >= grace {
			s.failJob(ctx, j.ID, s.stuckReason(j.ID, why), now)
			delete(sj.since, j.ID)
		}
	}
	for id := range sj.since {
		if !active[id] {
			delete(sj.since, id)
		}
	}
}

// stuckReason is the failed job's error: why nothing may run it, then its
// distinct failure reasons per shard (bounded).
func (s *Server) stuckReason(id protocol.JobID, why string) string {
	reason := why
	if f := s.store.FailureSummary(id); f != "" {
		reason += "; failures: " + f
	}
	if len(reason) > maxJobError {
		reason = strings.ToValidUTF8(reason[:maxJobError], "") + "…"
	}
	return reason
}

// failJob commits a JobCancel that fails the job (a lost race with the
// job ending otherwise is fine).
func (s *Server) failJob(ctx context.Context, id protocol.JobID, reason string, now time.Time) {
	_, err := s.apply(ctx, protocol.CmdJobCancel, protocol.JobCancel{ID: id, Reason: reason, Failed: true, At: now})
	if err != nil && protocol.CodeOf(err) != protocol.CodeConflict {
		s.log.Warn("failing job", "job_id", id, "err", err)
		return
	}
	s.log.Warn("job failed", "job_id", id, "reason", reason)
}
