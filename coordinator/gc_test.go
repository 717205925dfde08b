package coordinator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestJobGC: with a retention count of 1, the leader deletes all but the
// newest finished job once their manifests are recorded, on every voter;
// an active job is never collected.
func TestJobGC(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.JobRetentionCount, cfg.JobGCInterval = 1, 50*time.Millisecond
	})
	for _, m := range c.members {
		m.srv.manifests.setWriter(func(context.Context, protocol.Job) (storage.ManifestInfo, error) {
			return storage.ManifestInfo{}, nil
		})
	}
	srv := c.members[c.leader(10*time.Second)].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-active", testSpec(2)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := protocol.JobID(fmt.Sprintf("j-%d", i))
		if _, err := srv.SubmitJob(ctx, id, testSpec(2)); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.CancelJob(ctx, id, "gc test"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "every voter to keep j-active and the newest finished job only", func() bool {
		for _, m := range c.members {
			jobs := m.srv.Store().Jobs("")
			if len(jobs) != 2 || jobs[0].ID != "j-active" || jobs[1].ID != "j-2" {
				return false
			}
		}
		return true
	})
}
