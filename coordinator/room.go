package coordinator

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/sanafarm/sanafarm/protocol"
)

// Every job's spec lives in the replicated state until the job is deleted
// (by hand, or by the retention of finished jobs: gc.go), in every voter's
// memory, Raft log and snapshots. One spec is at most a request body (1
// MiB of inline prompts), but their number is the client's to choose: a
// script that resubmits in a loop would grow the state until the voters
// run out of memory, and the whole farm with them. So the leader refuses
// a submit that would take the specs held past Config.MaxJobBytes, with
// what to do. Concurrent submits may each pass the check: the bound can be
// passed by at most their number of bodies.

// DefaultMaxJobBytes bounds the job specs the state holds: thousands of
// jobs with large inline prompt lists, or hundreds of thousands of jobs
// reading prompt files.
const DefaultMaxJobBytes = 256 << 20

// specSizes caches each held job's encoded spec size (a job's spec never
// changes), so a submit adds up the held jobs without encoding them.
type specSizes struct {
	mu sync.Mutex
	by map[protocol.JobID]int64
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
	c := &s.specSizes
	c.mu.Lock()
	defer c.mu.Unlock()
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
	c.by = next
	return total
}

// checkRoom refuses spec when the state's job specs would pass
// MaxJobBytes with it.
func (s *Server) checkRoom(spec protocol.JobSpec) error {
	if s.cfg.MaxJobBytes < 0 {
		return nil
	}
	need, held := specBytes(spec), s.heldSpecBytes()
	if held+need <= s.cfg.MaxJobBytes {
		return nil
	}
	return &protocol.Error{Code: protocol.CodeTooLarge,
		Message: fmt.Sprintf("the farm holds jobs whose specs take %d bytes; this one (%d bytes) would pass the %d it keeps "+
			"(--max-job-bytes): delete finished jobs (sanafarm rm), keep them for less (--job-retention, --job-retention-count), "+
			"cancel unwanted ones, or give large prompt lists as a file", held, need, s.cfg.MaxJobBytes),
		Fields: []protocol.FieldError{{Field: "job", Value: strconv.FormatInt(need, 10) + " bytes",
			Problem: fmt.Sprintf("%d of %d bytes of job specs are held", held, s.cfg.MaxJobBytes)}}}
}
