package state

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestJobsPageCursorDeleted walks the listing page by page while jobs are
// deleted between pages — the cursor job itself, its neighbours, jobs
// already listed — as GC does during a client's walk (client.Jobs):
// every job still there is listed exactly once, in order.
func TestJobsPageCursorDeleted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		// del returns the jobs to delete after a page ending at cursor.
		del func(cursor protocol.JobID) []protocol.JobID
	}{
		{"cursor", 3, func(c protocol.JobID) []protocol.JobID { return []protocol.JobID{c} }},
		{"cursor and the next older", 3, func(c protocol.JobID) []protocol.JobID { return []protocol.JobID{c, older(c, 1)} }},
		{"cursor and the page before it", 2, func(c protocol.JobID) []protocol.JobID { return []protocol.JobID{c, older(c, -1)} }},
		{"cursor, page of one", 1, func(c protocol.JobID) []protocol.JobID { return []protocol.JobID{c} }},
		{"nothing", 3, func(protocol.JobID) []protocol.JobID { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			const n = 12
			for i := range n {
				id := protocol.JobID(fmt.Sprintf("j%02d", i))
				if err := s.UpsertJob(uint64(i+1), protocol.JobSubmit{Job: protocol.Job{ID: id, Spec: spec(1, 1)}, At: t0}); err != nil {
					t.Fatal(err)
				}
				if err := s.CancelJob(uint64(100+i), protocol.JobCancel{ID: id, At: t0}); err != nil { // deletable
					t.Fatal(err)
				}
			}
			deleted := map[protocol.JobID]bool{}
			listed := map[protocol.JobID]int{}
			var walk []protocol.JobID
			var after protocol.JobID
			for page := 0; ; page++ {
				jobs, next, ok := s.JobsPage("", after, tc.limit)
				if !ok || page > n {
					t.Fatalf("page %d after %q: ok %v (walk so far %v)", page, after, ok, walk)
				}
				for _, id := range jobIDs(jobs) {
					listed[id]++
					walk = append(walk, id)
				}
				if next == "" {
					break
				}
				del := tc.del(next)
				if _, err := s.DeleteJobs(uint64(1000+page), protocol.JobDelete{IDs: del, At: t0}); err != nil {
					t.Fatalf("delete %v: %v", del, err)
				}
				for _, id := range del {
					deleted[id] = true
				}
				after = next
			}
			for i := range n {
				id := protocol.JobID(fmt.Sprintf("j%02d", i))
				if listed[id] > 1 || (!deleted[id] && listed[id] != 1) {
					t.Errorf("%s listed %d times (deleted %v); walk %v", id, listed[id], deleted[id], walk)
				}
			}
			for i := 1; i < len(walk); i++ {
				if walk[i] >= walk[i-1] {
					t.Fatalf("walk out of order: %v", walk)
				}
			}
		})
	}
}

// older returns the id d submissions before id (d < 0: after it).
func older(id protocol.JobID, d int) protocol.JobID {
	var i int
	fmt.Sscanf(string(id), "j%02d", &i)
	return protocol.JobID(fmt.Sprintf("j%02d", i-d))
}

// TestGraveyardBounded: the deletions remembered are the last maxGraves
// (a reused id keeps its newer grave), and a restore forgets them all
// (their sequences are renumbered): such a cursor is refused, as before.
func TestGraveyardBounded(t *testing.T) {
	var g graveyard
	g.bury("reused", 1)
	for i := range maxGraves - 1 {
		g.bury(protocol.JobID(fmt.Sprintf("g%d", i)), uint64(10+i))
	}
	g.bury("reused", 1<<20)
	if len(g.seq) != maxGraves || g.seq["reused"] != 1<<20 || len(g.order) != maxGraves {
		t.Fatalf("%d graves, reused at %d, %d in order", len(g.seq), g.seq["reused"], len(g.order))
	}
	g.bury("last", 1<<21)
	if _, ok := g.seq["g0"]; ok || g.seq["reused"] != 1<<20 || len(g.seq) != maxGraves {
		t.Fatalf("oldest grave kept or newer one lost: %d graves, reused at %d", len(g.seq), g.seq["reused"])
	}

	s := New()
	for i, id := range []protocol.JobID{"a", "b", "c"} {
		if err := s.UpsertJob(uint64(i+1), protocol.JobSubmit{Job: protocol.Job{ID: id, Spec: spec(1, 1)}, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.CancelJob(10, protocol.JobCancel{ID: "b", At: t0})
	if _, err := s.DeleteJobs(11, protocol.JobDelete{IDs: []protocol.JobID{"b"}, At: t0}); err != nil {
		t.Fatal(err)
	}
	if jobs, _, ok := s.JobsPage("", "b", 5); !ok || fmt.Sprint(jobIDs(jobs)) != "[a]" {
		t.Fatalf("deleted cursor: %v %v", jobIDs(jobs), ok)
	}
	restored, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	s.Replace(restored)
	if _, _, ok := s.JobsPage("", "b", 5); ok {
		t.Fatal("a cursor deleted before the restore was accepted")
	}
}
