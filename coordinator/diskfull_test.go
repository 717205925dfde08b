package coordinator

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/sanafarm/sanafarm/protocol"
)

// fullDisk stands in a voter's data disk that fills up under the Raft
// log: while full, every write of the log fails with ENOSPC, as the bolt
// store's would; reads go on. (The stable store, Raft's term and vote, is
// left writable: raft stops the process when it cannot save them, which
// stableStore makes say why — TestStableStoreNamesTheDisk.)
type fullDisk struct {
	raft.LogStore
	full    atomic.Bool
	refused atomic.Int64
}

func (d *fullDisk) refuse(what string) error {
	if !d.full.Load() {
		return nil
	}
	d.refused.Add(1)
	return fmt.Errorf("%s: write raft.db: %w", what, syscall.ENOSPC)
}

func (d *fullDisk) StoreLog(l *raft.Log) error { return d.StoreLogs([]*raft.Log{l}) }

func (d *fullDisk) StoreLogs(ls []*raft.Log) error {
	if err := d.refuse("store logs"); err != nil {
		return err
	}
	return d.LogStore.StoreLogs(ls)
}

func (d *fullDisk) DeleteRange(lo, hi uint64) error {
	if err := d.refuse("delete logs"); err != nil {
		return err
	}
	return d.LogStore.DeleteRange(lo, hi)
}

// TestLeaderDiskFull: the leader's data disk fills up under its Raft log
// mid-job. Its next
// commit fails with the disk's error instead of hanging, it loses the
// leadership (it cannot write), another voter leads, and the job finishes
// through it; once space is freed, the full voter catches up with the
// log without a restart.
func TestLeaderDiskFull(t *testing.T) {
	disks := map[string]*fullDisk{}
	c := startCluster(t, 3, func(cfg *Config) {
		d := &fullDisk{}
		disks[cfg.ID] = d
		cfg.raftStores = func(b *raftboltdb.BoltStore) (raft.LogStore, raft.StableStore) {
			d.LogStore = b
			return d, b
		}
	})
	li := c.leader(10 * time.Second)
	old := c.members[li].srv
	announce(t, c.etcd, "n")
	for _, m := range c.members {
		waitFor(t, 5*time.Second, "the node in every view", func() bool { return len(m.srv.nodes.all()) == 1 })
	}
	ctx := context.Background()
	if _, err := old.SubmitJob(ctx, "j-disk", testSpec(8)); err != nil { // 4 shards
		t.Fatal(err)
	}
	f := &drainFixture{t: t, srv: old}
	as := f.lease("n", 1)
	if len(as) != 1 {
		t.Fatalf("%d leases, want 1", len(as))
	}
	f.report("n", as[0], "")

	disks[old.ID()].full.Store(true)
	start := time.Now()
	_, err := old.SubmitJob(ctx, "j-more", testSpec(2))
	if protocol.CodeOf(wireError(err)) != protocol.CodeNotLeader {
		t.Fatalf("submit on a leader whose disk is full = %v, want not_leader (the client retries on the next leader)", err)
	}
	t.Logf("submit on the full leader: %v after %v", err, time.Since(start).Round(time.Millisecond))
	var ni int
	waitFor(t, 30*time.Second, "another voter leading", func() bool {
		ni = -1
		for i, m := range c.members {
			if i != li && m.srv.IsLeader() {
				ni = i
			}
		}
		return ni >= 0 && !old.IsLeader()
	})
	f.srv = c.members[ni].srv
	waitFor(t, 20*time.Second, "the job done through the new leader", func() bool {
		for _, a := range f.lease("n", 4) {
			f.report("n", a, "")
		}
		j, _ := f.srv.Store().JobByID("j-disk")
		return j.State == protocol.JobDone
	})
	if disks[old.ID()].refused.Load() == 0 {
		t.Fatal("the full disk refused no write")
	}

	disks[old.ID()].full.Store(false)
	waitFor(t, 30*time.Second, "the freed voter caught up", func() bool {
		j, _ := old.Store().JobByID("j-disk")
		return j.State == protocol.JobDone && old.Health().AppliedIndex >= f.srv.Health().AppliedIndex
	})
	select {
	case err := <-c.members[li].done:
		t.Fatalf("the voter whose disk filled stopped: %v", err)
	default:
	}
}
