package state

import (
	"encoding/json"

	"github.com/sanafarm/sanafarm/protocol"
)

// The job specs a store holds are bounded (--max-job-bytes). Two sums
// follow them as jobs come and go (rebuilt on restore):
//   - specBytes adds up the sizes the submits recorded (Job.SpecBytes,
//     CmdJobSubmitBounded only): replicated input, so the FSM's check of a
//     bounded submit decides alike on every voter;
//   - estBytes adds up each job's recorded size, or for a job submitted
//     without one (before every coordinator knew the bounded command) its
//     spec's size measured here: what the leader's own check, /v1/health
//     and the metrics report. It is derived locally and never decides an
//     entry, so releases that encode specs differently cannot split the
//     replicas.

// SpecSize is the size of a spec as the state holds it (its JSON).
func SpecSize(spec protocol.JobSpec) int64 {
	b, err := json.Marshal(spec)
	if err != nil {
		return 0 // a spec that cannot be encoded cannot be submitted either
	}
	return int64(len(b))
}

// estimate is what job's spec counts for in estBytes.
func estimate(j protocol.Job) int64 {
	if j.SpecBytes > 0 {
		return j.SpecBytes
	}
	return SpecSize(j.Spec)
}

// SpecBytes is what the held jobs' specs take (estBytes), finished jobs
// included.
func (s *Store) SpecBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.estBytes
}
