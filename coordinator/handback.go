package coordinator

import (
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// A node hands its shards back (protocol.ReasonDraining) only when it
// stops: the hand-back costs the shard no attempt and the node no strike
// (traffic.go), so it is trusted only once per incarnation. The leader
// remembers the incarnation (NodeInfo.StartedAt) that handed back and
// treats its later lease requests as a draining node's: nothing new. A
// node whose stop hangs, or one that claims "draining" for every shard it
// gets, cannot cycle shards through hand-backs; a restarted node (a new
// StartedAt) is served again. Nodes of older releases announce no
// StartedAt and are not tracked.

// maxHandBacks bounds the nodes remembered (far beyond a farm's nodes;
// past it the memory starts afresh, which only forgets the guard).
const maxHandBacks = 10000

// handBacks maps node id to the StartedAt of its incarnation that handed
// back a shard.
type handBacks struct {
	mu sync.Mutex
	by map[string]time.Time
}

func newHandBacks() *handBacks { return &handBacks{by: map[string]time.Time{}} }

// note records that node's current incarnation (started) handed back.
func (h *handBacks) note(node string, started time.Time) {
	if started.IsZero() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.by[node]; !ok && len(h.by) >= maxHandBacks {
		clear(h.by)
	}
	h.by[node] = started
}

// stopping reports whether info is an incarnation that handed back.
func (h *handBacks) stopping(info protocol.NodeInfo) bool {
	if info.StartedAt.IsZero() {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.by[info.ID]
	return ok && at.Equal(info.StartedAt)
}

// noteHandBack records a hand-back of the incarnation that reported it
// (started), or, from a node of an earlier release, of node's latest
// known one.
func (s *Server) noteHandBack(node string, started time.Time) {
	if started.IsZero() {
		s.nodes.incMu.Lock()
		started = s.nodes.started[node]
		s.nodes.incMu.Unlock()
	}
	s.handBacks.note(node, started)
}
