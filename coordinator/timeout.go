package coordinator

import (
	"context"
	"fmt"
	"time"
)

// A job with a timeout (protocol.JobSpec.Timeout) ends by it whatever
// happens: the leader's tick fails every active job, paused or not, whose
// run began (Job.RunSince: the submit, or the retry of a finished job)
// longer ago than its timeout. Its leases end with it (the nodes running
// its shards are told on their next report), its manifest lists what was
// done, and a retry starts a new run with the whole timeout again.

// failTimedOut (leader tick) fails the jobs whose timeout has passed.
func (s *Server) failTimedOut(ctx context.Context) {
	now := s.cfg.Clock()
	for _, j := range s.store.TimedOut(now) {
		reason := fmt.Sprintf("its timeout of %s passed at %s with %d of %d shards done",
			j.Spec.Timeout, j.TimeoutAt().UTC().Format(time.RFC3339), j.ShardsDone, j.Shards)
		if j.Paused {
			reason += " (paused)"
		}
		s.failJob(ctx, j.ID, s.stuckReason(j.ID, reason), now)
	}
}
