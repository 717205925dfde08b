package coordinator

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Gang scheduling of parallel jobs (JobSpec.Parallel, degree d): a shard
// runs on d distinct nodes at once. Leasing stays request/reply:
//
//  1. A gang-capable node (LeaseRequest.Gang) that asks for work while a
//     gang is forming joins the oldest one as its next rank. Otherwise,
//     when the scheduler picks a parallel task for it, it opens a gang for
//     that task as rank 0 (the task stays reserved, as picked tasks are).
//  2. A member's request is held up to GangHold; if the gang has not
//     filled by then the reply is Pending and the node asks again at once.
//     A member gets no other work meanwhile.
//  3. The request that fills the gang commits ONE TaskAssign carrying the
//     task's attempt and every rank's node (Peers); each member's held or
//     next request then returns its rank's Assignment.
//  4. A gang that does not fill within GangTimeout is released (its
//     members go back to normal work). If fewer than d nodes are live,
//     the job can never run: it fails with a reason (JobCancel, Failed).
//
// Gangs live in the leader's memory only: a new leader starts none, and a
// committed gang whose ranks never all start fails like any attempt (the
// ranks give up joining, lease expiry or node loss), requeueing the shard
// as a whole with attempt+1. The FSM fences every rank's reports by the
// attempt, as for single-node tasks.

// gang is one forming (or just finished) group.
type gang struct {
	lease   protocol.TaskNext
	plan    string
	degree  int
	opened  time.Time
	members []string      // node ids by rank
	done    chan struct{} // closed once committed or released
	// legacy holds the members whose lease request did not announce
	// protocol.FeatureGangAddressed: the gang then keeps the old layout.
	legacy map[string]bool

	// Set before done closes: each rank's assignment (committed), or why
	// the gang was released.
	asgs   map[string]protocol.Assignment
	reason string
}

// gangs is the leader's set of gangs.
type gangs struct {
	mu      sync.Mutex
	pending []*gang          // forming, oldest first
	byNode  map[string]*gang // each node's gang until it collects its outcome
}

func newGangs() *gangs { return &gangs{byNode: map[string]*gang{}} }

// of returns the node's gang (forming or finished but not collected).
func (gs *gangs) of(node string) *gang {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return gs.byNode[node]
}

// addressedNode reports whether a lease request's node can address gang
// traffic to its recipients (what it announces with the request itself,
// not what the leader's etcd view may not have seen yet).
func addressedNode(n protocol.NodeInfo) bool {
	return slices.Contains(n.Features, protocol.FeatureGangAddressed)
}

// open starts a gang for lease with node as rank 0.
func (gs *gangs) open(lease protocol.TaskNext, plan string, degree int, node protocol.NodeInfo, now time.Time) *gang {
	g := &gang{lease: lease, plan: plan, degree: degree, opened: now, members: []string{node.ID}, done: make(chan struct{}),
		legacy: map[string]bool{}}
	if !addressedNode(node) {
		g.legacy[node.ID] = true
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	gs.pending = append(gs.pending, g)
	gs.byNode[node.ID] = g
	return g
}

// join adds node to the oldest forming gang that accepts it. full reports
// that the gang is complete: it left the pending list and the caller
// must commit it.
func (gs *gangs) join(n protocol.NodeInfo, accept func(*gang) bool) (g *gang, rank int, full bool) {
	node := n.ID
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.byNode[node] != nil {
		return nil, 0, false
	}
	for i, c := range gs.pending {
		if !accept(c) {
			continue
		}
		c.members = append(c.members, node)
		if !addressedNode(n) {
			c.legacy[node] = true
		}
		gs.byNode[node] = c
		if len(c.members) < c.degree {
			return c, len(c.members) - 1, false
		}
		gs.pending = slices.Delete(gs.pending, i, i+1)
		return c, len(c.members) - 1, true
	}
	return nil, 0, false
}

// finish records a gang's outcome and wakes its members.
func (gs *gangs) finish(g *gang, asgs map[string]protocol.Assignment, reason string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if i := slices.Index(gs.pending, g); i >= 0 {
		gs.pending = slices.Delete(gs.pending, i, i+1)
	}
	select {
	case <-g.done:
		return
	default:
	}
	g.asgs, g.reason = asgs, reason
	close(g.done)
}

// collect hands node its outcome of a finished gang and forgets it.
func (gs *gangs) collect(g *gang, node string) protocol.LeaseReply {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.byNode[node] == g {
		delete(gs.byNode, node)
	}
	if a, ok := g.asgs[node]; ok {
		return protocol.LeaseReply{Assignments: []protocol.Assignment{a}}
	}
	return protocol.LeaseReply{}
}

// leave drops a lost node from its forming gang; a gang left empty is
// returned for release.
func (gs *gangs) leave(node string) (empty *gang) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.byNode[node]
	delete(gs.byNode, node)
	if g == nil || !slices.Contains(gs.pending, g) {
		return nil
	}
	g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == node })
	delete(g.legacy, node)
	if len(g.members) > 0 {
		return nil
	}
	gs.pending = slices.DeleteFunc(gs.pending, func(p *gang) bool { return p == g })
	return g
}

// expired removes and returns the forming gangs opened before cutoff (the
// caller releases them), and forgets the
// uncollected outcomes of finished gangs opened before stale.
func (gs *gangs) expired(cutoff, stale time.Time) []*gang {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	var out []*gang
	gs.pending = slices.DeleteFunc(gs.pending, func(g *gang) bool {
		if g.opened.Before(cutoff) {
			out = append(out, g) // out of the list under the lock: no late join
			return true
		}
		return false
	})
	for n, g := range gs.byNode {
		if !slices.Contains(gs.pending, g) && g.opened.Before(stale) {
			delete(gs.byNode, n)
		}
	}
	return out
}

// reset returns the forming gangs and forgets every node's gang (on
// leadership loss).
func (gs *gangs) reset() []*gang {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	out := gs.pending
	gs.pending, gs.byNode = nil, map[string]*gang{}
	return out
}

// joinGang adds a gang-capable node with a free slot to the oldest
// forming gang of an active job (full: the caller commits it). Called
// under the pick lock, so a gang opened by a concurrent pick is seen.
func (s *Server) joinGang(req protocol.LeaseRequest) (g *gang, full bool) {
	if !req.Gang || req.Free <= 0 || req.Node.Draining {
		return nil, false
	}
	g, rank, full := s.gangs.join(req.Node, func(g *gang) bool {
		j, ok := s.store.JobByID(g.lease.Job)
		return ok && j.Schedulable() // a paused job's forming gang takes no new member
	})
	if g != nil {
		s.log.Debug("gang joined", "job_id", g.lease.Job, "shard", g.lease.Shard, "node_id", req.Node.ID, "rank", rank)
	}
	return g, full
}

// openGang turns the first parallel lease of a pick into a forming gang
// with the node as rank 0 (it keeps its reservation) and returns the
// leases to commit now: none when a gang opened (a member takes no other
// work), else the pick without parallel leases (a node that cannot run
// one rank of a gang never gets one).
func (s *Server) openGang(leases []protocol.TaskNext, req protocol.LeaseRequest, now time.Time) ([]protocol.TaskNext, *gang) {
	single := leases[:0:0]
	for _, l := range leases {
		j, _ := s.store.JobByID(l.Job)
		if d := j.Spec.Ranks(); d > 1 {
			if req.Gang {
				s.reserved.add([]protocol.TaskNext{l})
				g := s.gangs.open(l, j.Spec.Parallel, d, req.Node, now)
				s.log.Debug("gang opened", "job_id", l.Job, "shard", l.Shard, "node_id", req.Node.ID, "parallel", j.Spec.Parallel)
				return nil, g
			}
			continue
		}
		single = append(single, l)
	}
	return single, nil
}

// awaitGang holds a member's request up to GangHold for its gang's
// outcome.
func (s *Server) awaitGang(ctx context.Context, g *gang, node string) protocol.LeaseReply {
	hold := time.NewTimer(s.cfg.GangHold)
	defer hold.Stop()
	select {
	case <-g.done:
		return s.gangs.collect(g, node)
	case <-hold.C:
	case <-ctx.Done():
	}
	return protocol.LeaseReply{Pending: true}
}

// commitGang commits the full gang's TaskAssign and finishes the gang with
// every rank's assignment (or released, when the commit fails).
func (s *Server) commitGang(ctx context.Context, g *gang) {
	defer s.reserved.release([]protocol.TaskNext{g.lease})
	now := s.cfg.Clock()
	l := g.lease
	l.Deadline = now.Add(g.lease.Deadline.Sub(g.opened)) // the TTL starts now
	res, err := s.apply(ctx, protocol.CmdTaskAssign, protocol.TaskAssign{Node: g.members[0],
		Leases: []protocol.TaskNext{l}, Peers: g.members, At: now})
	granted, _ := res.([]protocol.TaskNext)
	if err != nil || len(granted) == 0 {
		s.log.Warn("gang not assigned", "job_id", l.Job, "shard", l.Shard, "err", err)
		s.gangs.finish(g, nil, "not assigned")
		return
	}
	t, _ := s.store.TaskByKey(l.TaskKey)
	j, _ := s.store.JobByID(l.Job)
	spec := j.Spec.ForSamples(t.Start, t.End)
	asgs := make(map[string]protocol.Assignment, len(g.members))
	addressed := len(g.legacy) == 0 // every rank announced it with its request
	for r, n := range g.members {
		asgs[n] = protocol.Assignment{Task: t, Spec: spec, Deadline: l.Deadline, Rank: r, Ranks: len(g.members),
			Group: protocol.GroupName(l.TaskKey, l.Attempt), Peers: g.members, Addressed: addressed}
	}
	s.log.Info("gang leased", "job_id", l.Job, "shard", l.Shard, "attempt", l.Attempt, "parallel", g.plan, "peers", g.members)
	s.gangs.finish(g, asgs, "")
}

// expireGangs releases gangs that did not fill within GangTimeout; a job
// whose gang needs more nodes than are live fails.
func (s *Server) expireGangs(ctx context.Context) {
	now := s.cfg.Clock()
	for _, g := range s.gangs.expired(now.Add(-s.cfg.GangTimeout), now.Add(-2*s.cfg.GangTimeout)) {
		s.releaseGang(g, fmt.Sprintf("gang did not fill within %v", s.cfg.GangTimeout))
		live := 0
		for _, n := range s.liveNodes() {
			if !n.Draining {
				live++
			}
		}
		if live >= g.degree {
			continue
		}
		reason := fmt.Sprintf("parallel %s needs %d nodes, %d live: shard %d could not gang-assign within %v",
			g.plan, g.degree, live, g.lease.Shard, s.cfg.GangTimeout)
		_, err := s.apply(ctx, protocol.CmdJobCancel, protocol.JobCancel{ID: g.lease.Job, Reason: reason, Failed: true, At: now})
		if err != nil && protocol.CodeOf(err) != protocol.CodeConflict {
			s.log.Warn("failing job", "job_id", g.lease.Job, "err", err)
			continue
		}
		s.log.Warn("job failed", "job_id", g.lease.Job, "reason", reason)
	}
}

// releaseGang gives up a forming gang: its task returns to the queue and
// its members to normal work.
func (s *Server) releaseGang(g *gang, reason string) {
	s.reserved.release([]protocol.TaskNext{g.lease})
	s.gangs.finish(g, nil, reason)
	s.log.Info("gang released", "job_id", g.lease.Job, "shard", g.lease.Shard, "members", g.members, "reason", reason)
}
