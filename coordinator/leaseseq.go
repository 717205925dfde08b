package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// A node sends one lease request at a time and numbers them
// (protocol.LeaseRequest.Seq). A request NATS held past the node's
// timeout may reach the leader after a later one of the same node: the
// node gave up on it, so granting it would only lease shards the node
// never runs — and when the node is then busy it sends no request that
// could reveal the loss (grants.go), so they would sit leased until their
// lease expired, with a strike. The leader therefore remembers each
// node's latest request and answers an earlier one with nothing; a grant
// committed for a request that another overtook meanwhile is requeued at
// once (Lease).

// maxSeqMarks bounds the nodes tracked (any NATS client may name one);
// past it, new ids are not tracked and their requests never count as
// overtaken.
const maxSeqMarks = 1 << 16

// seqMarkTTLs is how many lease TTLs a node's mark outlives its last
// request: a busy node sends none for a shard's duration, and a request
// NATS held must still find its mark.
const seqMarkTTLs = 20

// seqMark is a node's latest lease request: its incarnation and number.
type seqMark struct {
	started time.Time
	seq     uint64
	at      time.Time // when seen (pruning)
}

type seqMarks struct {
	mu    sync.Mutex
	marks map[string]seqMark
}

func newSeqMarks() *seqMarks { return &seqMarks{marks: map[string]seqMark{}} }

// overtaken records node's request (incarnation info.StartedAt, number
// seq) and reports whether a later request of the node was seen before
// it: one of the same incarnation with a higher number, or of a later
// incarnation. Requests without a number are never overtaken.
func (m *seqMarks) overtaken(info protocol.NodeInfo, seq uint64, now time.Time) bool {
	if seq == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, known := m.marks[info.ID]
	switch {
	case !known && len(m.marks) >= maxSeqMarks:
		return false
	case known && cur.after(info.StartedAt, seq):
		return true
	}
	m.marks[info.ID] = seqMark{started: info.StartedAt, seq: seq, at: now}
	return false
}

// after reports whether the marked request came after request seq of
// the incarnation started.
func (mk seqMark) after(started time.Time, seq uint64) bool {
	return started.Before(mk.started) || started.Equal(mk.started) && seq < mk.seq
}

// since reports whether a later request of node than (started, seq) has
// been seen.
func (m *seqMarks) since(info protocol.NodeInfo, seq uint64) bool {
	if seq == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, known := m.marks[info.ID]
	return known && cur.after(info.StartedAt, seq)
}

// prune forgets nodes not heard before cutoff.
func (m *seqMarks) prune(cutoff time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, mk := range m.marks {
		if mk.at.Before(cutoff) {
			delete(m.marks, id)
		}
	}
}

func (m *seqMarks) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.marks)
}

// dropOvertaken requeues grants just committed for req when a later
// request of the node was seen meanwhile (the node no longer waits for
// this reply), and reports whether it did. Tracked grants were added to
// the grant log first: those a later request already took out (and
// judged) are its to handle.
func (s *Server) dropOvertaken(ctx context.Context, req protocol.LeaseRequest, granted []protocol.TaskNext, tracked bool) bool {
	if len(granted) == 0 || !s.seqs.since(req.Node, req.Seq) {
		return false
	}
	as := make([]protocol.TaskAttempt, len(granted))
	for i, l := range granted {
		as[i] = protocol.TaskAttempt{TaskKey: l.TaskKey, Attempt: l.Attempt}
	}
	if tracked {
		as = s.grants.take(req.Node.ID, req.Seq, as)
	}
	for _, a := range as {
		if t, ok := s.leasedAttempt(a, req.Node.ID); ok {
			s.requeueLost(ctx, req.Node.ID, t)
		}
	}
	return true
}
