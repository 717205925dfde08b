package coordinator

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// Every job's spec lives in the replicated state until the job is deleted
// (by hand, or by the retention of finished jobs: gc.go), in every voter's
// memory, Raft log and snapshots. One spec is at most a request body (1
// MiB of inline prompts), but their number is the client's to choose: a
// script that resubmits in a loop would grow the state until the voters
// run out of memory, and the whole farm with them. So the leader refuses
// a submit that would take the specs held past Config.MaxJobBytes, with
// what to do. A submit's bytes are reserved from its check until its
// commit has applied, so concurrent submits cannot pass the bound together.
// A leader change between a check and its commit could still let two
// leaders' submits through together (the new leader does not know the old
// one's reservations), so once every coordinator knows it the submit is a
// CmdJobSubmitBounded, which the FSM checks again in log order against the
// sizes the submits recorded.

// DefaultMaxJobBytes bounds the job specs the state holds: thousands of
// jobs with large inline prompt lists, or hundreds of thousands of jobs
// reading prompt files.
const DefaultMaxJobBytes = 256 << 20

// specSizes holds what submits checked but not yet applied reserve; the
// held jobs' sizes are the store's (state.Store.SpecBytes, kept as jobs
// come and go).
type specSizes struct {
	mu      sync.Mutex
	pending int64
}

// specBytes is the size of a spec as the state holds it (its JSON).
func specBytes(spec protocol.JobSpec) int64 { return state.SpecSize(spec) }

// reserveRoom refuses spec when the state's job specs, with those of the
// submits in flight, would pass MaxJobBytes with it; otherwise it
// reserves its bytes until release, which the caller calls once the
// submit's commit has applied or failed.
func (s *Server) reserveRoom(spec protocol.JobSpec) (release func(), err error) {
	if s.cfg.MaxJobBytes < 0 {
		return func() {}, nil
	}
	need := specBytes(spec)
	c := &s.specSizes
	c.mu.Lock()
	defer c.mu.Unlock()
	held := s.store.SpecBytes() + c.pending
	if held+need > s.cfg.MaxJobBytes {
		return nil, s.noRoom(held, need)
	}
	c.pending += need
	return sync.OnceFunc(func() {
		c.mu.Lock()
		c.pending -= need
		c.mu.Unlock()
	}), nil
}

// submitCommand is the entry that adds job: CmdJobSubmitBounded, with the
// spec's size and the bound, where every server knows it (features.go);
// else the plain CmdJobSubmit.
func (s *Server) submitCommand(ctx context.Context, job protocol.Job) (protocol.CommandType, protocol.JobSubmit) {
	c := protocol.JobSubmit{Job: job, At: s.cfg.Clock()}
	if !s.clusterKnows(ctx, protocol.CmdJobSubmitBounded) {
		return protocol.CmdJobSubmit, c
	}
	c.Job.SpecBytes, c.MaxSpecBytes = specBytes(job.Spec), max(s.cfg.MaxJobBytes, 0)
	return protocol.CmdJobSubmitBounded, c
}

// noRoom is the error of a submit past MaxJobBytes.
func (s *Server) noRoom(held, need int64) error {
	return &protocol.Error{Code: protocol.CodeTooLarge,
		Message: fmt.Sprintf("the farm holds jobs whose specs take %d bytes; this one (%d bytes) would pass the %d it keeps "+
			"(--max-job-bytes): delete finished jobs (sanafarm rm), keep them for less (--job-retention, --job-retention-count), "+
			"cancel unwanted ones, or give large prompt lists as a file", held, need, s.cfg.MaxJobBytes),
		Fields: []protocol.FieldError{{Field: "job", Value: strconv.FormatInt(need, 10) + " bytes",
			Problem: fmt.Sprintf("%d of %d bytes of job specs are held", held, s.cfg.MaxJobBytes)}}}
}
