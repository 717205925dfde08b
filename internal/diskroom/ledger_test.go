package diskroom

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// room is what a download may take from dir's disk now, with the reserve
// kept; the tests size their downloads as shares of it, with margins wide
// enough for other tests writing to the same disk meanwhile.
func room(t *testing.T, dir string) int64 {
	t.Helper()
	free, err := Free(dir)
	if err != nil || free <= 0 {
		t.Skipf("free space of %s: %d, %v", dir, free, err)
	}
	keep, _ := fits(0, free)
	return free - keep
}

func TestLedgerCountsDownloadsInProgress(t *testing.T) {
	dir := t.TempDir()
	share := func(f float64) int64 { return int64(f * float64(room(t, dir))) }
	var l Ledger
	a, err := l.Take("a", dir, share(0.7), 0)
	if err != nil {
		t.Fatalf("the first download: %v", err)
	}
	if _, err := l.Take("b", dir, share(0.7), 0); err == nil || !strings.Contains(err.Error(), "promised to downloads in progress") || !errors.Is(err, ErrRefused) {
		t.Fatalf("a second download of the same size while the first has it all to write: %v, want a refusal", err)
	}
	a.Wrote(share(0.6)) // on the disk now: the free space would show it
	b, err := l.Take("b", dir, share(0.7), 0)
	if err != nil {
		t.Fatalf("with most of the first written: %v", err)
	}
	b.Release()
	a.Release()
	a.Release() // twice: nothing more
	if len(l.pending) != 0 {
		t.Fatalf("pending after every release: %v", l.pending)
	}
	c, err := l.Take("c", dir, share(0.7), 0)
	if err != nil {
		t.Fatalf("after the others ended: %v", err)
	}
	c.Wrote(share(2)) // more than held: takes only what it held
	c.Release()
	c.Wrote(1) // a late write of a released download
	if len(l.pending) != 0 {
		t.Fatalf("pending after writing past the hold and after its release: %v", l.pending)
	}
}

func TestLedgerConcurrent(t *testing.T) {
	dir := t.TempDir()
	need := room(t, dir) / 5
	var l Ledger
	var ok atomic.Int32
	var wg sync.WaitGroup
	holds := make(chan *Hold, 16)
	for range 16 {
		wg.Go(func() {
			if h, err := l.Take("x", dir, need, 0); err == nil {
				ok.Add(1)
				holds <- h
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n < 3 || n > 5 {
		t.Fatalf("%d downloads of a fifth of the room each started together, want 4 (3–5 as other tests write)", n)
	}
	close(holds)
	for h := range holds {
		h.Release()
	}
}

func TestLedgerNilAndBound(t *testing.T) {
	dir := t.TempDir()
	var nl *Ledger
	h, err := nl.Take("x", dir, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Wrote(1)
	h.Release()
	var l Ledger
	if _, err := l.Take("x", dir, 3<<30, 2<<30); err == nil || !strings.Contains(err.Error(), "--max-model-bytes") {
		t.Fatalf("past the bound: %v", err)
	}
	if len(l.pending) != 0 {
		t.Fatalf("a refusal held %v", l.pending)
	}
}
