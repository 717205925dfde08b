package state

import (
	"sort"

	"github.com/sanafarm/sanafarm/protocol"
)

// JobsPage returns up to limit jobs in state ("" = all), newest first,
// among those submitted before job after ("" = from the newest), and the
// cursor of the next page ("" when no job is left). ok is false when
// after names no job (deleted since, or never submitted). The cost is the
// jobs skipped by the state filter plus the page, never a copy of the
// history.
func (s *Store) JobsPage(state protocol.JobState, after protocol.JobID, limit int) (jobs []protocol.Job, next protocol.JobID, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	end := len(s.order)
	if after != "" {
		e, found := s.jobs[after]
		if !found {
			return nil, "", false
		}
		// Submission sequences grow along s.order (deletes remove entries,
		// never renumber), so the cursor's position is a binary search.
		end = sort.Search(len(s.order), func(i int) bool { return s.jobs[s.order[i]].seq >= e.seq })
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
