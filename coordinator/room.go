package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

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

// specSizes caches each held job's encoded spec size (a job's spec never
// changes), so a submit adds up the held jobs without encoding them.
type specSizes struct {
	mu      sync.Mutex
	by      map[protocol.JobID]int64
	pending int64 // reserved by submits checked but not yet applied
	// last and lastAt: the latest sum, for GET /v1/health (recentSpecBytes).
	last   int64
	lastAt time.Time
}

// specBytesEvery bounds how often GET /v1/health, which needs no token,
// adds up the held specs (a walk over every job).
const specBytesEvery = 5 * time.Second

// recentSpecBytes is heldSpecBytes as of at most specBytesEvery ago.
func (s *Server) recentSpecBytes() int64 {
	c, now := &s.specSizes, s.cfg.Clock()
	c.mu.Lock()
	fresh := !c.lastAt.IsZero() && now.Sub(c.lastAt) < specBytesEvery && !now.Before(c.lastAt)
	last := c.last
	c.mu.Unlock()
	if fresh {
		return last
	}
	return s.heldSpecBytes()
}

// specBytes is the size of a spec as the state holds it (its JSON).
func specBytes(spec protocol.JobSpec) int64 {
	b, err := json.Marshal(spec)
	if err != nil {
		return 0 // a spec that cannot be encoded cannot be submitted either
	}
	return int64(len(b))
}

// heldSpecBytes adds up the specs of every job in the state; the cache
// is rebuilt from the held jobs, so deleted ones drop out of it.
func (s *Server) heldSpecBytes() int64 {
	ids := s.store.JobIDs()
	s.specSizes.mu.Lock()
	defer s.specSizes.mu.Unlock()
	return s.heldLocked(ids)
}

// heldLocked is heldSpecBytes with specSizes.mu held.
func (s *Server) heldLocked(ids []protocol.JobID) int64 {
	c := &s.specSizes
	next := make(map[protocol.JobID]int64, len(ids))
	var total int64
	for _, id := range ids {
		n, ok := c.by[id]
		if !ok {
			j, found := s.store.JobByID(id)
			if !found {
				continue // deleted meanwhile
			}
			n = specBytes(j.Spec)
		}
		next[id] = n
		total += n
	}
	c.by, c.last, c.lastAt = next, total, s.cfg.Clock()
	return total
}

// reserveRoom refuses spec when the state's job specs, with those of the
// submits in flight, would pass MaxJobBytes with it; otherwise it
// reserves its bytes until release, which the caller calls once the
// submit's commit has applied or failed.
func (s *Server) reserveRoom(spec protocol.JobSpec) (release func(), err error) {
	if s.cfg.MaxJobBytes < 0 {
		return func() {}, nil
	}
	need, ids := specBytes(spec), s.store.JobIDs()
	c := &s.specSizes
	c.mu.Lock()
	defer c.mu.Unlock()
	held := s.heldLocked(ids) + c.pending
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
	if !s.clusterHas(ctx, protocol.FeatureJobBytes) {
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
