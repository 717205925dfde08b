package coordinator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestJobBytesBound: a submit that would take the held job specs past
// MaxJobBytes is refused with what to do, nothing is committed, and
// deleting a job makes room again.
func TestJobBytesBound(t *testing.T) {
	one := specBytes(testSpec(50))
	c := startCluster(t, 1, func(cfg *Config) { cfg.MaxJobBytes = 2*one + one/2 })
	srv := c.members[c.leader(10*time.Second)].srv
	ctx := context.Background()
	for _, id := range []protocol.JobID{"j-a", "j-b"} {
		if _, err := srv.SubmitJob(ctx, id, testSpec(50)); err != nil {
			t.Fatalf("submit %s within the bound: %v", id, err)
		}
	}
	_, err := srv.SubmitJob(ctx, "j-c", testSpec(50))
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeTooLarge || !strings.Contains(pe.Message, "--max-job-bytes") ||
		len(pe.Fields) != 1 || pe.Fields[0].Field != "job" {
		t.Fatalf("submit past the bound: %v", err)
	}
	if _, ok := srv.store.JobByID("j-c"); ok {
		t.Fatal("the refused job is in the state")
	}
	// A resubmit of a held job is answered from the state, not refused.
	if _, err := srv.SubmitJob(ctx, "j-a", srv.mustJob(t, "j-a").Spec); err != nil {
		t.Fatalf("resubmitting a held job: %v", err)
	}
	if _, err := srv.CancelJob(ctx, "j-a", "test"); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteJob(ctx, "j-a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SubmitJob(ctx, "j-c", testSpec(50)); err != nil {
		t.Fatalf("submit after a delete made room: %v", err)
	}
	if total, want := srv.heldSpecBytes(), specBytes(srv.mustJob(t, "j-b").Spec)+specBytes(srv.mustJob(t, "j-c").Spec); total != want || len(srv.specSizes.by) != 2 {
		t.Errorf("held %d bytes in %d cached sizes, want %d in 2 (the deleted job's forgotten)", total, len(srv.specSizes.by), want)
	}
}

// mustJob returns a held job.
func (s *Server) mustJob(t *testing.T, id protocol.JobID) protocol.Job {
	t.Helper()
	j, ok := s.store.JobByID(id)
	if !ok {
		t.Fatalf("no job %s", id)
	}
	return j
}
