package state

import "github.com/sanafarm/sanafarm/protocol"

// Summary is the whole store in numbers (for metrics).
type Summary struct {
	Jobs       map[protocol.JobState]int
	Tasks      TaskCounts // over all jobs
	QueueDepth int        // queued tasks of active jobs
	Stats      Stats
}

// Summary counts jobs and tasks by state.
func (s *Store) Summary() Summary {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sum := Summary{Jobs: map[protocol.JobState]int{}, Stats: s.stats}
	for _, e := range s.jobs {
		sum.Jobs[e.job.State]++
		sum.Tasks.Queued += e.counts.Queued
		sum.Tasks.Leased += e.counts.Leased
		sum.Tasks.Done += e.counts.Done
		sum.Tasks.Failed += e.counts.Failed
		if !e.job.State.Terminal() {
			sum.QueueDepth += e.counts.Queued
		}
	}
	return sum
}
