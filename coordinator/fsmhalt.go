package coordinator

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/state"
)

// haltLatch stops the FSM for good once it meets what a newer release
// wrote (docs/architecture.md, "Feature gates"): a command type it does
// not know, without protocol.IgnoreUnknown, or a snapshot using a feature
// it does not know. Skipping such an entry would leave this server's
// state different from the others' — silently, and a leader elected from
// it would act on it — so the FSM applies nothing more, refuses to take
// snapshots of what it has, and Server.Run stops with the reason. Raft
// keeps the entry, so every restart on this release stops at it again:
// only the release that wrote it can go on. A forged entry cannot cause
// this: only coordinators, over mutual TLS, write the log (tls.go).
type haltLatch struct {
	mu  sync.Mutex
	err error
	ch  chan struct{}
}

// set halts with err (the first reason is kept).
func (h *haltLatch) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return
	}
	h.err = err
	if h.ch == nil {
		h.ch = make(chan struct{})
	}
	close(h.ch)
}

// get returns the reason the FSM halted, or nil.
func (h *haltLatch) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// done is closed once the FSM halts.
func (h *haltLatch) done() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch == nil {
		h.ch = make(chan struct{})
	}
	return h.ch
}

// haltNewer halts on an entry of a type this release does not know.
func (f *fsm) haltNewer(l *raft.Log, typ uint8) error {
	err := fmt.Errorf("raft entry %d (term %d) has command type %d, which this release does not know: %w; "+
		"run the release that wrote it (docs/deploy.md §5, rolling back)", l.Index, l.Term, typ, state.ErrNewerRelease)
	f.log.Error("stopping: the raft log needs a newer release", "index", l.Index, "term", l.Term, "type", typ, "err", err)
	f.halt.set(err)
	return err
}
