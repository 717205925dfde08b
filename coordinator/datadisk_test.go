package coordinator

import (
	"context"
	"errors"
	"net/http"
	"slices"
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

// TestVoterDataDisks: each coordinator publishes its data disk's free
// space in etcd; the leader refuses a submit once fewer than a majority of
// the voters would keep MinDataFree (insufficient_storage naming the
// voters short of room), not while only one of three is short, and takes
// submits again once a follower frees space. Nothing refused is stored.
func TestVoterDataDisks(t *testing.T) {
	free := map[string]*atomic.Int64{}
	for _, id := range []string{"c0", "c1", "c2"} {
		free[id] = new(atomic.Int64)
		free[id].Store(4 << 30)
	}
	c := startCluster(t, 3, func(cfg *Config) {
		id := cfg.ID
		cfg.MinDataFree = 1 << 30
		cfg.dataDiskEvery = 50 * time.Millisecond
		cfg.diskFree = func(string) (int64, error) { return free[id].Load(), nil }
	})
	srv := c.members[c.serving(10*time.Second)].srv
	var followers []string
	for id := range free {
		if id != srv.cfg.ID {
			followers = append(followers, id)
		}
	}
	slices.Sort(followers)
	ctx := context.Background()
	// set makes follower id's disk hold n bytes free and waits until the
	// leader reads it.
	set := func(id string, n int64) {
		t.Helper()
		free[id].Store(n)
		waitFor(t, 10*time.Second, id+"'s free space published", func() bool {
			srv.voterDisks.mu.Lock()
			srv.voterDisks.at = time.Time{} // read again
			srv.voterDisks.mu.Unlock()
			return srv.readVoterDisks(ctx)[id] == n
		})
	}
	for _, id := range followers {
		set(id, 4<<30)
	}
	low := int64(1<<30 + 100) // the spec's bytes would take it below the floor
	set(followers[0], low)
	if _, err := srv.SubmitJob(ctx, "j-one-short", testSpec(8)); err != nil {
		t.Fatalf("submit with one of three voters short of room: %v", err)
	}
	set(followers[1], low)
	_, err := srv.SubmitJob(ctx, "j-two-short", testSpec(8))
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInsufficientStorage || !strings.Contains(pe.Message, "--min-data-free") ||
		!strings.Contains(pe.Message, followers[0]+" (") || !strings.Contains(pe.Message, followers[1]+" (") {
		t.Fatalf("submit with two of three voters short of room: %v", err)
	}
	if _, ok := srv.store.JobByID("j-two-short"); ok {
		t.Fatal("the refused job is in the state")
	}
	set(followers[0], 2<<30)
	if _, err := srv.SubmitJob(ctx, "j-two-short", testSpec(8)); err != nil {
		t.Errorf("submit once a follower freed space: %v", err)
	}
	h := srv.Health()
	for _, v := range h.Voters {
		if v.DataFreeBytes != free[v.ID].Load() {
			t.Errorf("health: voter %s has %d free, want %d", v.ID, v.DataFreeBytes, free[v.ID].Load())
		}
	}
	if len(h.Voters) != 3 {
		t.Errorf("health lists %d voters", len(h.Voters))
	}
}
