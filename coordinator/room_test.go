package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	if total, want := srv.store.SpecBytes(), specBytes(srv.mustJob(t, "j-b").Spec)+specBytes(srv.mustJob(t, "j-c").Spec); total != want {
		t.Errorf("held %d bytes, want %d (the deleted job's forgotten)", total, want)
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

// TestJobBytesBoundConcurrent: submits racing each other cannot pass the
// bound together: each reserves its bytes from its check to its commit.
func TestJobBytesBoundConcurrent(t *testing.T) {
	one := specBytes(testSpec(50))
	c := startCluster(t, 1, func(cfg *Config) { cfg.MaxJobBytes = 3*one + one/2 })
	srv := c.members[c.leader(10*time.Second)].srv
	var wg sync.WaitGroup
	var accepted, refused atomic.Int32
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := srv.SubmitJob(context.Background(), protocol.JobID(fmt.Sprintf("j-%02d", i)), testSpec(50))
			switch {
			case err == nil:
				accepted.Add(1)
			case protocol.CodeOf(err) == protocol.CodeTooLarge:
				refused.Add(1)
			default:
				t.Errorf("submit %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 3 || refused.Load() != 13 {
		t.Errorf("%d accepted and %d refused, want 3 and 13", accepted.Load(), refused.Load())
	}
	if held := srv.store.SpecBytes(); held > 3*one+one/2 {
		t.Errorf("the state holds %d bytes of specs, past the bound %d", held, 3*one+one/2)
	}
	if srv.specSizes.pending != 0 {
		t.Errorf("%d bytes still reserved after every submit returned", srv.specSizes.pending)
	}
}

// TestHealthSpecBytes: /v1/health (with the token) and the dashboard's
// cluster page say what the held specs take and the bound, from the
// store's running sum (the endpoint needs no token, so it must not walk
// every job on each call).
func TestHealthSpecBytes(t *testing.T) {
	one := specBytes(testSpec(50))
	c := startCluster(t, 1, func(cfg *Config) { cfg.MaxJobBytes = 10 * one })
	srv := c.members[c.leader(10*time.Second)].srv
	if h := srv.Health(); h.JobSpecBytes != 0 || h.MaxJobBytes != 10*one {
		t.Fatalf("before any job: %d of %d", h.JobSpecBytes, h.MaxJobBytes)
	}
	if _, err := srv.SubmitJob(context.Background(), "j", testSpec(50)); err != nil {
		t.Fatal(err)
	}
	if h := srv.Health(); h.JobSpecBytes != one {
		t.Fatalf("after a submit: %d, want %d", h.JobSpecBytes, one)
	}
}
