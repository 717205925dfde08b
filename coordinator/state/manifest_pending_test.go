package state

import (
	"slices"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestManifestPendingOnEveryEnd: a cancelled or failed job's manifest is
// pending like a done job's (it lists what was generated and why the rest
// was not), the leader's record of it is accepted, and a snapshot restore
// finds the unrecorded ones again.
func TestManifestPendingOnEveryEnd(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(t *testing.T, s *Store)
		want protocol.JobState
	}{
		{"cancelled", func(t *testing.T, s *Store) {
			if err := s.CancelJob(3, protocol.JobCancel{ID: "a", Reason: "user", At: t0}); err != nil {
				t.Fatal(err)
			}
		}, protocol.JobCancelled},
		{"failed", func(t *testing.T, s *Store) {
			for attempt := 1; attempt <= 2; attempt++ {
				s.AssignTasks(uint64(attempt*2), protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 3, attempt)}, At: t0})
				if err := s.FailTask(uint64(attempt*2+1), protocol.TaskFail{TaskKey: key("a", 3), Attempt: attempt, Node: "n1", Reason: "oom", At: t0}); err != nil {
					t.Fatal(err)
				}
			}
		}, protocol.JobFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := seeded(t)
			if len(s.ManifestsPending()) != 0 {
				t.Fatalf("pending before the end: %v", s.ManifestsPending())
			}
			if err := s.RecordManifest(1, protocol.JobManifest{ID: "a", At: t0}); protocol.CodeOf(err) != protocol.CodeConflict {
				t.Fatalf("manifest of an active job: %v", err)
			}
			c.end(t, s)
			select {
			case <-s.JobDone():
			default:
				t.Fatal("the manifest writer was not woken")
			}
			if j, _ := s.JobByID("a"); j.State != c.want || !slices.Equal(s.ManifestsPending(), []protocol.JobID{"a"}) {
				t.Fatalf("job %s, pending %v", j.State, s.ManifestsPending())
			}
			s.mu.Lock()
			s.rebuildUnmanifested()
			s.mu.Unlock()
			if !slices.Equal(s.ManifestsPending(), []protocol.JobID{"a"}) {
				t.Fatalf("pending after a restore: %v", s.ManifestsPending())
			}
			if err := s.RecordManifest(10, protocol.JobManifest{ID: "a", At: t0}); err != nil {
				t.Fatal(err)
			}
			if len(s.ManifestsPending()) != 0 {
				t.Fatalf("pending after the record: %v", s.ManifestsPending())
			}
		})
	}
}
