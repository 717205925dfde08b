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
	at     time.Time
	seq    uint64 // of the request it answered
	resent int    // times sent again (maxResends)
}

// maxResends bounds how often a lost grant is sent again before it is
// requeued: a node whose replies keep getting lost (its link drops them)
// must not hold the shard forever without spending an attempt.
const maxResends = 2

func newGrantLog() *grantLog { return &grantLog{pending: map[string][]grant{}} }

// add records grants to node, answering its request seq.
func (g *grantLog) add(node string, seq uint64, leases []protocol.TaskNext, at time.Time) {
	if len(leases) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range leases {
		g.pending[node] = append(g.pending[node], grant{TaskAttempt: protocol.TaskAttempt{TaskKey: l.TaskKey, Attempt: l.Attempt}, at: at, seq: seq})
	}
}

// readd records a grant sent again, answering request seq.
func (g *grantLog) readd(node string, seq uint64, p grant, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p.seq, p.at, p.resent = seq, at, p.resent+1
	g.pending[node] = append(g.pending[node], p)
}

// take removes node's pending grants of the given attempts logged for
// its request seq, and returns those it found: whoever takes a grant out
// owns it (no double handling). A grant logged again by a later request
// (re-sent in its reply) is that request's, not seq's.
func (g *grantLog) take(node string, seq uint64, as []protocol.TaskAttempt) []protocol.TaskAttempt {
	g.mu.Lock()
	defer g.mu.Unlock()
	want := make(map[protocol.TaskAttempt]bool, len(as))
	for _, a := range as {
		want[a] = true
	}
	var kept []grant
	var out []protocol.TaskAttempt
	for _, p := range g.pending[node] {
		if want[p.TaskAttempt] && p.seq == seq {
			out = append(out, p.TaskAttempt)
		} else {
			kept = append(kept, p)
		}
	}
	g.pending[node] = kept
	if len(kept) == 0 {
		delete(g.pending, node)
	}
	return out
}

// unheld judges node's pending grants that answered requests before seq
// against holds, the attempts the node listed in request seq: those it
// does not list are returned, and all of them are forgotten. Grants that
// answered request seq or a later one stay pending (a delayed request
// handled late speaks only for what came before it).
func (g *grantLog) unheld(node string, seq uint64, holds []protocol.TaskAttempt) []grant {
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
	var out []grant
	for _, p := range judged {
		if !listed[p.TaskAttempt] {
			out = append(out, p)
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

// lostGrant is a grant its node does not hold, with its task as leased.
type lostGrant struct {
	grant
	task protocol.Task
}

// lostGrants returns the grants still leased to req's node, in the same
// attempt, that the node does not list as held. Requests of an older
// incarnation of the node (a frozen process that woke up) do not speak for
// the current one and return none.
func (s *Server) lostGrants(req protocol.LeaseRequest) []lostGrant {
	if req.Seq == 0 || !s.nodes.isCurrent(req.Node) {
		return nil
	}
	var lost []lostGrant
	for _, g := range s.grants.unheld(req.Node.ID, req.Seq, req.Holds) {
		if t, ok := s.leasedAttempt(g.TaskAttempt, req.Node.ID); ok {
			lost = append(lost, lostGrant{g, t})
		}
	}
	return lost
}

// leasedAttempt returns a's task while attempt a is still leased to node
// alone (not ended, requeued by something else, or a gang's).
func (s *Server) leasedAttempt(a protocol.TaskAttempt, node string) (protocol.Task, bool) {
	t, ok := s.store.TaskByKey(a.TaskKey)
	return t, ok && t.State == protocol.TaskLeased && t.Attempt == a.Attempt && t.Assignee == node && len(t.Peers) == 0
}

// recoverLost sends req's node again the grants it never received, as far
// as it asks for work (req.Free) and one reply carries: the same attempt,
// its lease extended from now, so no attempt is spent and nothing is
// committed — at most maxResends times, and only while the lease is not
// about to expire. The rest (all of them for a gone or draining node) are
// requeued ("lease reply lost", no strike). ok: the reply is the re-sent
// grants (the request gets nothing new this time).
func (s *Server) recoverLost(ctx context.Context, req protocol.LeaseRequest, gone bool) (rep protocol.LeaseReply, ok bool) {
	lost := s.lostGrants(req)
	if len(lost) == 0 {
		return rep, false
	}
	now := s.cfg.Clock()
	deadline := now.Add(s.cfg.LeaseTTL)
	var cands []lostGrant
	if !gone && !req.Node.Draining {
		for _, l := range lost {
			if len(cands) < req.Free && l.resent < maxResends && s.leaseLeft(l.task, now) {
				cands = append(cands, l)
			}
		}
	}
	sizes := make([]int, len(cands))
	for i, l := range cands {
		j, _ := s.store.JobByID(l.task.Job)
		l.task.Deadline = deadline
		rep.Assignments = append(rep.Assignments, protocol.Assignment{Task: l.task, Spec: j.Spec.ForSamples(l.task.Start, l.task.End), Deadline: deadline})
		sizes[i] = encodedSize(rep.Assignments[i])
	}
	keep, _ := fitGrant(sizes, s.leaseReplyBudget())
	resend := make([]protocol.Assignment, 0, len(keep))
	sent := map[protocol.TaskKey]bool{}
	for _, i := range keep {
		a := rep.Assignments[i]
		resend = append(resend, a)
		sent[a.Task.TaskKey] = true
		s.progress.add(protocol.ProgressUpdate{TaskKey: a.Task.TaskKey, Attempt: a.Task.Attempt, Done: a.Task.Progress, Deadline: deadline})
		s.grants.readd(req.Node.ID, req.Seq, cands[i].grant, now)
		s.log.Info("re-sending a grant its node never received", "job_id", a.Task.Job, "shard", a.Task.Shard,
			"node_id", req.Node.ID, "attempt", a.Task.Attempt)
	}
	for _, l := range lost {
		if !sent[l.task.TaskKey] {
			s.requeueLost(ctx, req.Node.ID, l.task)
		}
	}
	if s.dropOvertaken(ctx, req, resentGrants(resend), true) {
		// A later request of the node was handled meanwhile, before these
		// were logged again, so it could not judge them; the node no
		// longer waits for this reply (leaseseq.go).
		return protocol.LeaseReply{}, true
	}
	return protocol.LeaseReply{Assignments: resend}, len(resend) > 0
}

// resentGrants are the grants of re-sent assignments.
func resentGrants(as []protocol.Assignment) []protocol.TaskNext {
	out := make([]protocol.TaskNext, len(as))
	for i, a := range as {
		out[i] = protocol.TaskNext{TaskKey: a.Task.TaskKey, Attempt: a.Task.Attempt, Deadline: a.Deadline}
	}
	return out
}

// leaseLeft reports whether t's lease (with buffered extensions) lasts
// beyond the next leader tick: re-sending a lease about to expire would
// race its expiry.
func (s *Server) leaseLeft(t protocol.Task, now time.Time) bool {
	d := t.Deadline
	if e, ok := s.progress.extended(t.TaskKey, t.Attempt); ok && e.After(d) {
		d = e
	}
	return d.After(now.Add(s.cfg.ProgressInterval))
}

// requeueLost fails the attempt of a grant its node never received (or no
// longer waits for) without a strike.
func (s *Server) requeueLost(ctx context.Context, node string, t protocol.Task) {
	s.log.Warn("requeueing a grant its node never received", "job_id", t.Job, "shard", t.Shard, "node_id", node, "attempt", t.Attempt)
	s.endAttempt(ctx, t, node, reasonReplyLost, failNoFault)
}

// leaseReplyBudget is replyBudget of the NATS connection (0: unbounded,
// without NATS in tests).
func (s *Server) leaseReplyBudget() int64 {
	if s.cfg.NATS == nil {
		return 0
	}
	return replyBudget(s.cfg.NATS.MaxPayload())
}
