package coordinator

import (
	"strings"
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

// reportedKind is what a failure a node reports counts against. A shard
// handed back by a stopping node did not fail there: no strike and no
// attempt, or every rolling upgrade or preemption during a long job would
// count against its nodes until the job was blocklisted on all, and
// against its shards until they failed (trusted once per incarnation,
// above). A node's own fault (its disk, limits, allow-lists or GPU memory)
// strikes it without counting against the shard that another node may
// run. A refused grant is judged by the leader's own check of it
// (refusalKind). Anything else strikes and counts — protocol.ReasonNoSlot
// too: a leader cannot tell a grant past the node's free slots from a node
// handing back whatever it likes, which, trusted, would let one node churn
// every shard of a job without ever being blocklisted for it.
func (s *Server) reportedKind(rep protocol.CompleteReport, t protocol.Task) failKind {
	switch {
	case rep.Error == protocol.ReasonDraining:
		s.noteHandBack(rep.Node, rep.StartedAt)
		return failNoFault
	case strings.HasPrefix(rep.Error, protocol.ReasonRefused+":"):
		return s.refusalKind(t)
	case rep.NodeFault:
		return failNodeFault
	}
	return failStrike
}

// refusalKind judges a node's refusal of t, the current attempt (Complete
// checked it), by checking the grant as the leader built it: a grant this
// release finds invalid is the job's doing (counted, so the job ends with
// the node's reason, without striking nodes that were right to refuse it);
// a valid one refused is the node's (a newer release's stricter check, a
// fault): struck, not counted, so the shard goes to a node that takes it.
func (s *Server) refusalKind(t protocol.Task) failKind {
	j, ok := s.store.JobByID(t.Job)
	if !ok {
		return failStrike
	}
	if (protocol.Assignment{Task: t, Spec: j.Spec.ForSamples(t.Start, t.End)}).CheckGrant() != nil {
		return failNoStrike
	}
	return failNodeFault
}
