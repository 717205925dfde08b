package coordinator

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
)

// failingStores fails every write with ENOSPC.
type failingStores struct{ raft.InmemStore }

func (*failingStores) StoreLogs([]*raft.Log) error        { return syscall.ENOSPC }
func (*failingStores) SetUint64(k []byte, v uint64) error { return syscall.ENOSPC }

// TestStableStoreNamesTheDisk: a Raft log write or a term that cannot be
// saved is returned to raft unchanged, and logged naming the data dir and
// what it means first (raft's own panic over a lost term says neither);
// log failures are counted for apply's not_leader answer, and logged at
// most once a minute.
func TestStableStoreNamesTheDisk(t *testing.T) {
	var buf bytes.Buffer
	st := &failingStores{}
	d := &raftDisk{LogStore: st, stable: st, dir: "/var/lib/sanafarm", log: slog.New(slog.NewTextHandler(&buf, nil))}
	if err := d.StoreLog(&raft.Log{Index: 1}); !errors.Is(err, syscall.ENOSPC) || d.logFailures.Load() != 1 {
		t.Fatalf("StoreLog = %v (%d failures counted), want ENOSPC, one counted", err, d.logFailures.Load())
	}
	for range 50 { // a follower refusing every retried append
		_ = d.StoreLogs([]*raft.Log{{Index: 2}})
	}
	if got := strings.Count(buf.String(), "the Raft log cannot be written"); got != 1 || d.logFailures.Load() != 51 {
		t.Errorf("51 failed log writes logged %d times (counted %d), want once a minute", got, d.logFailures.Load())
	}
	if err := d.SetUint64([]byte("CurrentTerm"), 7); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("SetUint64 = %v, want ENOSPC", err)
	}
	for _, want := range []string{"the Raft log cannot be written", "cannot save its term or vote", "dir=/var/lib/sanafarm", "no space left on device"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}
