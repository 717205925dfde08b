package coordinator

import (
	"context"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// Job retention (docs/architecture.md, "Job and node control"), as
// Nomad's job GC: the leader deletes finished jobs from the state once
// they are older than Config.JobRetention or beyond the newest
// Config.JobRetentionCount finished ones. Only jobs whose manifest is
// recorded are collected (state.Store.Collectable); outputs are never
// touched. Deletions go through Raft (JobDelete, at most
// protocol.MaxDeleteBatch per entry) so every voter shrinks alike.

// DefaultJobGCInterval is how often the leader looks for jobs to collect.
const DefaultJobGCInterval = time.Minute

// jobGC is the leader loop's retention state: when it last ran.
type jobGC struct{ last time.Time }

// collectJobs deletes the jobs the retention policy no longer keeps, at
// most once per JobGCInterval (a leader tick is far more frequent).
func (s *Server) collectJobs(ctx context.Context, gc *jobGC) {
	r := state.Retention{Age: s.cfg.JobRetention, Count: s.cfg.JobRetentionCount}
	now := s.cfg.Clock()
	if (r.Age <= 0 && r.Count <= 0) || now.Sub(gc.last) < s.cfg.JobGCInterval {
		return
	}
	gc.last = now
	ids := s.store.Collectable(r, now)
	for len(ids) > 0 {
		batch := ids[:min(len(ids), protocol.MaxDeleteBatch)]
		ids = ids[len(batch):]
		_, err := s.apply(ctx, protocol.CmdJobDelete|protocol.IgnoreUnknown, protocol.JobDelete{IDs: batch, At: now})
		if err != nil && protocol.CodeOf(err) != protocol.CodeConflict {
			s.log.Warn("collecting finished jobs", "jobs", len(batch), "err", err)
			return
		}
		s.log.Info("finished jobs collected", "jobs", len(batch), "retention", r.Age, "retention_count", r.Count)
	}
}
