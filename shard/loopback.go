package shard

import (
	"context"
	"fmt"
	"sync"
)

// Loopback is an in-process Transport: every rank of the group lives in
// this process and messages are copied between their mailboxes. Closing
// (or aborting) one rank fails every other rank at once.
type Loopback struct {
	*core
	g *loopGroup
}

var _ Transport = (*Loopback)(nil)

type loopGroup struct {
	mu     sync.Mutex
	ranks  []*core
	closed []bool
}

// NewLoopback returns the size ranks of one in-process group.
func NewLoopback(size int, enc Encoding) ([]*Loopback, error) {
	if size < 1 {
		return nil, fmt.Errorf("shard: loopback group of %d ranks", size)
	}
	g := &loopGroup{ranks: make([]*core, size), closed: make([]bool, size)}
	out := make([]*Loopback, size)
	for k := range size {
		c := newCore(k, size, enc, Limits{})
		c.w = loopWire{g: g, rank: k}
		g.ranks[k] = c
		out[k] = &Loopback{core: c, g: g}
	}
	return out, nil
}

// Close leaves the group: the other ranks fail with ErrPeerLost.
func (l *Loopback) Close() error {
	l.box.fail(ErrClosed)
	return l.w.close()
}

type loopWire struct {
	g    *loopGroup
	rank int
}

func (w loopWire) send(_ context.Context, to int, h header, payload []byte) error {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	if w.g.closed[w.rank] {
		return ErrClosed
	}
	h.off, h.total = 0, uint64(len(payload))
	for k, c := range w.g.ranks {
		if k == w.rank || (to >= 0 && k != to) {
			continue
		}
		if w.g.closed[k] {
			return fmt.Errorf("%w: rank %d has left", ErrPeerLost, k)
		}
		_ = c.deliver(h, append([]byte(nil), payload...)) // in-process: every message is the group's own
	}
	return nil
}

func (w loopWire) close() error {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	if w.g.closed[w.rank] {
		return nil
	}
	w.g.closed[w.rank] = true
	for k, c := range w.g.ranks {
		if k != w.rank && !w.g.closed[k] {
			_ = c.deliver(header{kind: kindBye, src: uint32(w.rank)}, nil)
		}
	}
	return nil
}
