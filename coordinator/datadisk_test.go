package coordinator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestDataDiskFloor: while the leader's data disk would keep less than
// MinDataFree, a submit is refused with insufficient_storage (HTTP 507)
// naming the flag and the disk, nothing is committed, a held job's
// resubmit is still answered and running jobs still lease; once space is
// freed submits go through again. A disk whose free space cannot be read
// refuses nothing.
func TestDataDiskFloor(t *testing.T) {
	var free atomic.Int64
	var readErr atomic.Bool
	free.Store(4 << 30)
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.MinDataFree = 1 << 30
		cfg.diskFree = func(string) (int64, error) {
			if readErr.Load() {
				return 0, errors.New("statfs: input/output error")
			}
			return free.Load(), nil
		}
	})
	srv := c.members[c.leader(10*time.Second)].srv
	announce(t, c.etcd, "n")
	waitFor(t, 5*time.Second, "the node in the view", func() bool { return len(srv.nodes.all()) == 1 })
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-a", testSpec(8)); err != nil {
		t.Fatalf("submit with room: %v", err)
	}

	free.Store(1<<30 + 100) // the spec's bytes would take it below the floor
	_, err := srv.SubmitJob(ctx, "j-b", testSpec(8))
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInsufficientStorage || statusOf(pe.Code) != http.StatusInsufficientStorage ||
		!strings.Contains(pe.Message, "--min-data-free") || !strings.Contains(pe.Message, srv.cfg.DataDir) {
		t.Fatalf("submit on a nearly full data disk: %v", err)
	}
	if _, ok := srv.store.JobByID("j-b"); ok {
		t.Fatal("the refused job is in the state")
	}
	if _, err := srv.SubmitJob(ctx, "j-a", srv.mustJob(t, "j-a").Spec); err != nil {
		t.Errorf("resubmitting a held job on a nearly full disk: %v", err)
	}
	f := &drainFixture{t: t, srv: srv}
	if as := f.lease("n", 1); len(as) != 1 {
		t.Errorf("a running job leased %d shards on a nearly full disk, want 1", len(as))
	}
	if h := srv.Health(); h.DataFreeBytes != 1<<30+100 || h.MinDataFree != 1<<30 {
		t.Errorf("health shows %d free, floor %d", h.DataFreeBytes, h.MinDataFree)
	}

	readErr.Store(true)
	if _, err := srv.SubmitJob(ctx, "j-c", testSpec(8)); err != nil {
		t.Errorf("submit when the free space cannot be read: %v", err)
	}
	readErr.Store(false)
	free.Store(2 << 30)
	if _, err := srv.SubmitJob(ctx, "j-b", testSpec(8)); err != nil {
		t.Errorf("submit once space was freed: %v", err)
	}
}
