package state

import (
	"sort"

	"github.com/sanafarm/sanafarm/protocol"
)

// JobsPage returns up to limit jobs in state ("" = all), newest first,
// among those submitted before job after ("" = from the newest), and the
// cursor of the next page ("" when no job is left). A cursor whose job
// was deleted since (GC, DELETE) still pages on from where it stood, as
// long as the store remembers the deletion (graveyard); ok is false when
// after names no job it knows of (never submitted, or deleted before the
// last maxGraves deletions or the last snapshot restore). The cost is
// the jobs skipped by the state filter plus the page, never a copy of
// the history.
func (s *Store) JobsPage(state protocol.JobState, after protocol.JobID, limit int) (jobs []protocol.Job, next protocol.JobID, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	end := len(s.order)
	if after != "" {
		seq, found := s.seqOf(after)
		if !found {
			return nil, "", false
		}
		// Submission sequences grow along s.order (deletes remove entries,
		// never renumber), so the cursor's position — where it is, or
		// where it was — is a binary search.
		end = sort.Search(len(s.order), func(i int) bool { return s.jobs[s.order[i]].seq >= seq })
	}
	jobs = []protocol.Job{}
	for i := end - 1; i >= 0; i-- {
		j := s.jobs[s.order[i]].job
		if state != "" && j.State != state {
			continue
		}
		if len(jobs) >= limit {
			return jobs, jobs[len(jobs)-1].ID, true
		}
		jobs = append(jobs, j)
	}
	return jobs, "", true
}

// seqOf returns the submission sequence of job id, live or recently
// deleted. Callers hold s.mu.
func (s *Store) seqOf(id protocol.JobID) (uint64, bool) {
	if e, ok := s.jobs[id]; ok {
		return e.seq, true
	}
	seq, ok := s.graves.seq[id]
	return seq, ok
}

// maxGraves bounds the deletions remembered: a cursor lives for one walk
// of the listing, and GC deletes in batches (docs/scale.md keeps the
// state bounded), so the last few thousand are plenty.
const maxGraves = 4096

// graveyard maps the last maxGraves deleted jobs to their submission
// sequences, oldest deletion first in order. It is derived from the
// applied log, so every replica that applied the same deletes agrees; a
// snapshot restore renumbers the sequences and so empties it (Replace)
// rather than widen the snapshot format.
type graveyard struct {
	seq   map[protocol.JobID]uint64
	order []grave
}

type grave struct {
	id  protocol.JobID
	seq uint64
}

// bury remembers that job id, submitted at seq, was deleted, forgetting
// the oldest deletion beyond maxGraves. Callers hold s.mu for writing.
func (g *graveyard) bury(id protocol.JobID, seq uint64) {
	if g.seq == nil {
		g.seq = map[protocol.JobID]uint64{}
	}
	g.seq[id] = seq
	g.order = append(g.order, grave{id, seq})
	for len(g.order) > maxGraves {
		old := g.order[0]
		// A reused id may have been buried again since: keep the newer.
		if g.seq[old.id] == old.seq {
			delete(g.seq, old.id)
		}
		g.order = g.order[1:]
	}
}
