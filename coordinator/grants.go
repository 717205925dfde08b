package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// A lease reply can be lost after the grant is committed: NATS (hung, or
// partitioned from the leader) may hold a node's lease request past the
// node's request timeout and deliver it at the thaw; the leader grants it
// and answers an inbox nobody listens to any more. The node never runs
// those shards, and without more they would sit leased for a whole lease
// TTL. So a node lists the attempts it holds in every lease request
// (protocol.LeaseRequest.Holds), and the leader remembers each grant until
// the node's next request: a grant the node does not list in a later
// request (LeaseRequest.Seq) was never received, and is requeued right
// away ("lease reply lost", no strike).
//
// Only this leader's own grants are remembered (a new leader gives all
// leases one TTL anyway), only for nodes that list their holds, and only
// until a later request of the node judges them or two lease TTLs pass,
// whichever comes first (after that, lease expiry has the case): the log
// is bounded by the grants in flight.

// reasonReplyLost is the failure reason of a grant its node never received.
const reasonReplyLost = "lease reply lost: the node does not hold this grant"

// grantLog holds the leader's grants not yet confirmed by their node.
type grantLog struct {
	mu      sync.Mutex
	pending map[string][]grant // by node id
}

type grant struct {
	protocol.TaskAttempt
	at  time.Time
	seq uint64 // of the request it answered
}

func newGrantLog() *grantLog { return &grantLog{pending: map[string][]grant{}} }

// add records grants to node, answering its request seq.
func (g *grantLog) add(node string, seq uint64, leases []protocol.TaskNext, at time.Time) {
	if len(leases) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range leases {
		g.pending[node] = append(g.pending[node], grant{protocol.TaskAttempt{TaskKey: l.TaskKey, Attempt: l.Attempt}, at, seq})
	}
}

// unheld judges node's pending grants that answered requests before seq
// against holds, the attempts the node listed in request seq: those it
// does not list are returned, and all of them are forgotten. Grants that
// answered request seq or a later one stay pending (a delayed request
// handled late speaks only for what came before it).
func (g *grantLog) unheld(node string, seq uint64, holds []protocol.TaskAttempt) []protocol.TaskAttempt {
	g.mu.Lock()
	var judged, kept []grant
	for _, p := range g.pending[node] {
		if p.seq < seq {
			judged = append(judged, p)
		} else {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		delete(g.pending, node)
	} else {
		g.pending[node] = kept
	}
	g.mu.Unlock()
	if len(judged) == 0 {
		return nil
	}
	listed := make(map[protocol.TaskAttempt]bool, len(holds))
	for _, h := range holds {
		listed[h] = true
	}
	var out []protocol.TaskAttempt
	for _, p := range judged {
		if !listed[p.TaskAttempt] {
			out = append(out, p.TaskAttempt)
		}
	}
	return out
}

// prune forgets grants made before cutoff (lease expiry has them now).
func (g *grantLog) prune(cutoff time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for node, ps := range g.pending {
		kept := ps[:0]
		for _, p := range ps {
			if !p.at.Before(cutoff) {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			delete(g.pending, node)
			continue
		}
		g.pending[node] = kept
	}
}

func (g *grantLog) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.pending)
}

// reclaimUnheld requeues the grants to req's node that the node does not
// list as held. Requests of an older incarnation of the node (a frozen
// process that woke up) do not speak for the current one and are skipped.
func (s *Server) reclaimUnheld(ctx context.Context, req protocol.LeaseRequest) {
	if !req.ListsHolds || req.Seq == 0 || !s.nodes.isCurrent(req.Node) {
		return
	}
	for _, a := range s.grants.unheld(req.Node.ID, req.Seq, req.Holds) {
		t, ok := s.store.TaskByKey(a.TaskKey)
		if !ok || t.State != protocol.TaskLeased || t.Attempt != a.Attempt || t.Assignee != req.Node.ID || len(t.Peers) > 0 {
			continue // already ended, or requeued by something else
		}
		s.log.Warn("requeueing a grant its node never received", "job_id", t.Job, "shard", t.Shard,
			"node_id", req.Node.ID, "attempt", t.Attempt)
		s.failTaskStrike(ctx, t, req.Node.ID, reasonReplyLost, false)
	}
}
