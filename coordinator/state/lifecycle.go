package state

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
)

// Job lifecycle helpers: output ownership (an output location belongs to
// one active job), manifest bookkeeping (which done jobs still need one)
// and the failure reasons a stuck job is failed with.

// OutputKey normalises an output URL for overlap checks: the scheme
// lower-cased (a bare path is file://), the path cleaned, the query
// dropped, no trailing slash. "file:///a/b/", "/a/b" and "/a/./b" are one
// location.
func OutputKey(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "file://" + cleanPath(raw)
	}
	scheme = strings.ToLower(scheme)
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return scheme + "://" + rest
	}
	host := u.Host
	if scheme == "file" && host == "localhost" {
		host = ""
	}
	return scheme + "://" + host + cleanPath(u.Path)
}

func cleanPath(p string) string {
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	return strings.TrimSuffix(p, "/")
}

// overlaps reports whether two output keys are the same location or one
// contains the other at a path-segment boundary ("/a/b" contains
// "/a/b/c", not "/a/bc").
func overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

// outputConflict returns the conflict error when job j's output overlaps
// an active job's. Callers hold s.mu.
func (s *Store) outputConflict(j protocol.Job) error {
	key := OutputKey(j.Spec.Output.URL)
	for _, o := range s.indexed(s.active) { // O(active jobs), not O(history)
		if !overlaps(key, OutputKey(o.Spec.Output.URL)) {
			continue
		}
		return &protocol.Error{Code: protocol.CodeConflict,
			Message: fmt.Sprintf("output %s overlaps the output %s of active job %s: an output location belongs to one active job",
				j.Spec.Output.URL, o.Spec.Output.URL, o.ID),
			Fields: []protocol.FieldError{{Field: "output.url", Value: j.Spec.Output.URL, Problem: "in use by active job " + string(o.ID)}}}
	}
	return nil
}

// RecordManifest applies a JobManifest: the finished (done, failed or
// cancelled) job's manifest is written. Unknown, active or already
// recorded jobs are conflicts (a lost race with a delete or a second
// writer), not corrupt entries.
func (s *Store) RecordManifest(index uint64, c protocol.JobManifest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	e, err := s.existingJob(c.ID)
	switch {
	case err != nil:
		return err
	case !e.job.State.Terminal():
		return protocol.Errorf(protocol.CodeConflict, "job %s is %s, not finished", c.ID, e.job.State)
	case !e.job.ManifestAt.IsZero():
		return protocol.Errorf(protocol.CodeConflict, "job %s: manifest already recorded", c.ID)
	}
	e.job.ManifestAt = c.At
	delete(s.unmanifested, c.ID)
	return nil
}

// markDone notes a job that just finished (its manifest is pending)
// and wakes ManifestsPending's waiter. Callers hold s.mu.
func (s *Store) markDone(id protocol.JobID) {
	s.unmanifested[id] = struct{}{}
	select {
	case s.doneCh <- struct{}{}:
	default:
	}
}

// rebuildUnmanifested recomputes the pending-manifest set from the jobs
// (after a snapshot restore). Callers hold s.mu or own s.
func (s *Store) rebuildUnmanifested() {
	s.unmanifested = map[protocol.JobID]struct{}{}
	for id, e := range s.jobs {
		if e.job.State.Terminal() && e.job.ManifestAt.IsZero() {
			s.unmanifested[id] = struct{}{}
		}
	}
}

// ManifestsPending returns the ids of the finished jobs whose manifest is not
// recorded, the longest done first (O(pending), not O(jobs)).
func (s *Store) ManifestsPending() []protocol.JobID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := slices.Collect(maps.Keys(s.unmanifested))
	slices.SortFunc(ids, func(a, b protocol.JobID) int {
		if c := s.jobs[a].job.UpdatedAt.Compare(s.jobs[b].job.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a), string(b))
	})
	return ids
}

// JobDone is signalled (coalesced) whenever a job finishes or the
// state is restored from a snapshot: the leader's manifest writer waits
// on it instead of scanning every job on a timer.
func (s *Store) JobDone() <-chan struct{} { return s.doneCh }

// Failure reasons of a stuck job, bounded: at most maxReasons distinct
// reasons, each cut to maxReasonLen bytes.
const (
	maxReasons   = 5
	maxReasonLen = 200
	maxShardList = 5
)

// FailureSummary describes a job's failed attempts for its error: each
// distinct reason with the shards it hit (the first few) and how many
// attempts, most frequent first, at most 5 reasons.
func (s *Store) FailureSummary(id protocol.JobID) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.jobs[id]
	if !ok {
		return ""
	}
	type reason struct {
		text     string
		attempts int
		shards   []int
	}
	byText := map[string]*reason{}
	for _, i := range slices.Sorted(maps.Keys(e.tasks)) {
		for _, f := range e.tasks[i].Failures {
			r := byText[f.Reason]
			if r == nil {
				r = &reason{text: f.Reason}
				byText[f.Reason] = r
			}
			r.attempts++
			if len(r.shards) == 0 || r.shards[len(r.shards)-1] != i {
				r.shards = append(r.shards, i)
			}
		}
	}
	rs := slices.SortedFunc(maps.Values(byText), func(a, b *reason) int {
		if a.attempts != b.attempts {
			return b.attempts - a.attempts
		}
		return strings.Compare(a.text, b.text)
	})
	var parts []string
	for _, r := range rs[:min(len(rs), maxReasons)] {
		attempts := fmt.Sprintf("%d attempts", r.attempts)
		if r.attempts == 1 {
			attempts = "1 attempt"
		}
		parts = append(parts, fmt.Sprintf("%q (%s, shards %s)", protocol.Clip(r.text, maxReasonLen), attempts, shardList(r.shards)))
	}
	if len(rs) > maxReasons {
		parts = append(parts, fmt.Sprintf("and %d more reasons", len(rs)-maxReasons))
	}
	return strings.Join(parts, "; ")
}

func shardList(shards []int) string {
	var b strings.Builder
	for i, s := range shards[:min(len(shards), maxShardList)] {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", s)
	}
	if len(shards) > maxShardList {
		fmt.Fprintf(&b, ",… %d in all", len(shards))
	}
	return b.String()
}
