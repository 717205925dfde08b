package diskroom

import "sync"

// Ledger counts what the downloads it let start still have to write, per
// file system. Check alone compares one download with the free space; two
// downloads at once (a node's executors resolving two models, or a model
// and a job's adapter) would each count the same free space, and together
// fill the disk that shard staging and the other models share. The zero
// Ledger is ready; a nil one checks each download alone.
type Ledger struct {
	mu      sync.Mutex
	pending map[uint64]int64 // bytes promised, by file system
}

// Hold is one download's promise: Wrote takes what reached the disk off it
// (the free space shows those now), Release ends it.
type Hold struct {
	l    *Ledger
	fs   uint64
	left int64
	once sync.Once
}

// Take is Check with the bytes other holds on the same file system still
// have to write counted as used; on success need bytes are held until
// Release. A nil Ledger, or a disk whose free space or identity cannot be
// read, holds nothing (the bound is still checked).
func (l *Ledger) Take(what, dir string, need, limit int64) (*Hold, error) {
	if l == nil || need <= 0 || limit > 0 && need > limit {
		return &Hold{}, Check(what, dir, need, limit)
	}
	fs, free, err := disk(dir)
	if err != nil {
		return &Hold{}, Check(what, dir, need, limit)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := noRoom(what, dir, need, free, l.pending[fs]); err != nil {
		return nil, err
	}
	if l.pending == nil {
		l.pending = map[uint64]int64{}
	}
	l.pending[fs] += need
	return &Hold{l: l, fs: fs, left: need}, nil
}

// Wrote says n more bytes of the download are on the disk.
func (h *Hold) Wrote(n int64) {
	if h == nil || h.l == nil || n <= 0 {
		return
	}
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if n = min(n, h.left); n == 0 {
		return // released, or all written: nothing of it is pending
	}
	h.left -= n
	h.l.pending[h.fs] -= n
}

// Release ends the hold (the download finished or failed); later calls do
// nothing.
func (h *Hold) Release() {
	if h == nil || h.l == nil {
		return
	}
	h.once.Do(func() {
		h.l.mu.Lock()
		defer h.l.mu.Unlock()
		h.l.pending[h.fs] -= h.left
		if h.l.pending[h.fs] == 0 {
			delete(h.l.pending, h.fs)
		}
		h.left = 0
	})
}

// disk is the identity and free space of the file system holding dir or
// its nearest existing parent.
func disk(dir string) (fs uint64, free int64, err error) {
	p, err := existing(dir)
	if err != nil {
		return 0, 0, err
	}
	if fs, err = fsID(p); err != nil {
		return 0, 0, err
	}
	free, err = freeAt(p)
	return fs, free, err
}

// Pending is what the downloads holding room still have to write, on
// every file system together.
func (l *Ledger) Pending() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, p := range l.pending {
		n += p
	}
	return n
}
