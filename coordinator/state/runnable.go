package state

import (
	"slices"

	"github.com/sanafarm/sanafarm/protocol"
)

// Indexes of the jobs a lease or a submit looks at, so that their cost is
// O(runnable jobs), never O(history) (docs/scale.md): a farm keeps weeks
// of finished jobs, and every lease request used to walk all of them.
//
//   - active: the non-terminal jobs (output ownership, stuck detection);
//   - runnable: the active jobs that are not paused (the scheduler's pick).
//
// Both map a job to its submission sequence, so listings keep submission
// order. They are derived state: every apply method that may change a
// job's state or pause flag calls reindex, and a restore rebuilds them.

// reindex puts job id into the indexes its state calls for. Callers hold
// s.mu for writing.
func (s *Store) reindex(id protocol.JobID) {
	e, ok := s.jobs[id]
	if !ok || e.job.State.Terminal() {
		delete(s.active, id)
		delete(s.runnable, id)
		return
	}
	s.active[id] = e.seq
	if e.job.Paused {
		delete(s.runnable, id)
	} else {
		s.runnable[id] = e.seq
	}
}

// rebuildIndexes numbers the jobs in submission order and indexes them
// (after a snapshot restore). Callers hold s.mu or own s.
func (s *Store) rebuildIndexes() {
	s.active, s.runnable = map[protocol.JobID]uint64{}, map[protocol.JobID]uint64{}
	s.specBytes, s.estBytes = 0, 0
	for i, id := range s.order {
		e := s.jobs[id]
		e.seq = uint64(i)
		if e.est == 0 {
			e.est = estimate(e.job) // restored: measured once here (specsize.go)
		}
		s.specBytes += e.job.SpecBytes
		s.estBytes += e.est
		s.reindex(id)
	}
	s.seq = uint64(len(s.order))
}

// indexed returns the jobs of an index in submission order. Callers hold
// s.mu.
func (s *Store) indexed(ix map[protocol.JobID]uint64) []protocol.Job {
	ids := s.indexedIDs(ix)
	out := make([]protocol.Job, len(ids))
	for i, id := range ids {
		out[i] = s.jobs[id].job
	}
	return out
}

// indexedIDs returns the ids of an index in submission order; each one it
// returns is one job visited (counted for the tests of docs/scale.md's
// O(runnable) pick). Callers hold s.mu.
func (s *Store) indexedIDs(ix map[protocol.JobID]uint64) []protocol.JobID {
	ids := make([]protocol.JobID, 0, len(ix))
	for id := range ix {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b protocol.JobID) int {
		switch sa, sb := ix[a], ix[b]; {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	s.visits.Add(int64(len(ids)))
	return ids
}
