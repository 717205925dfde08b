package coordinator

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// raftDisk wraps the Raft log and stable store (raft.db on the data dir)
// to say what a failed write means, since raft's own messages do not name
// the disk: a log write that fails makes the leader step down (apply then
// answers not_leader, so the client retries on the next leader, instead of
// an internal error), and a term or vote that cannot be saved makes raft
// stop the process — the one safe thing, as a voter must never forget its
// vote. A disk that fills does both (docs/architecture.md, "Coordinator
// disk full"; the leader refuses submits before that, datadisk.go).
type raftDisk struct {
	raft.LogStore
	stable      raft.StableStore
	dir         string
	log         *slog.Logger
	logFailures atomic.Uint64 // log writes that failed
	loggedAt    atomic.Int64  // when a failed log write was last logged (unix ns)
}

// logFailureEvery rate-limits the log line of failed log writes: on a full
// disk a follower fails every append the leader retries, and a line each
// would fill the journal, on that same disk as often as not.
const logFailureEvery = time.Minute

func (d *raftDisk) StoreLog(l *raft.Log) error { return d.StoreLogs([]*raft.Log{l}) }

func (d *raftDisk) StoreLogs(ls []*raft.Log) error {
	err := d.LogStore.StoreLogs(ls)
	if err != nil {
		n := d.logFailures.Add(1)
		now, last := time.Now().UnixNano(), d.loggedAt.Load()
		if now-last >= int64(logFailureEvery) && d.loggedAt.CompareAndSwap(last, now) {
			d.log.Error("the Raft log cannot be written (is the data disk full?): this coordinator cannot lead or follow until it can",
				"dir", d.dir, "err", err, "failed_writes", n)
		}
	}
	return err
}

func (d *raftDisk) Get(k []byte) ([]byte, error)       { return d.stable.Get(k) }
func (d *raftDisk) GetUint64(k []byte) (uint64, error) { return d.stable.GetUint64(k) }
func (d *raftDisk) Set(k, v []byte) error              { return d.saved(d.stable.Set(k, v)) }
func (d *raftDisk) SetUint64(k []byte, v uint64) error { return d.saved(d.stable.SetUint64(k, v)) }

// saved reports a term or vote that could not be saved before raft stops
// the process over it.
func (d *raftDisk) saved(err error) error {
	if err != nil {
		d.log.Error("Raft cannot save its term or vote (is the data disk full?) and stops this coordinator: "+
			"free space on the data dir's disk, then start it again", "dir", d.dir, "err", err)
	}
	return err
}
