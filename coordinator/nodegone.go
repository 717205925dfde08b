package coordinator

import (
	"context"
	"time"
)

// A node whose etcd key goes away is not necessarily dead: a hung or
// restarted etcd expires every announcement at once while the nodes keep
// rendering and reporting over NATS (chaos scenario etcd-freeze). So the
// leader requeues a gone node's leases ("node lost", no strike) only once
// it has been gone for goneGrace without registering again (the agent does
// as soon as etcd answers) or reporting progress since. A node that really
// died is requeued goneGrace after its key expired; its task leases, which
// a lost node's expiry also requeues without a strike (expireLeases), bound
// the wait either way.

// maxGoneGrace caps goneGrace for long lease TTLs.
const maxGoneGrace = 15 * time.Second

// goneGrace is how long a gone node may take to show it is alive: half a
// task lease TTL (a live node reports progress more often than that),
// at most maxGoneGrace.
func (s *Server) goneGrace() time.Duration { return min(s.cfg.LeaseTTL/2, maxGoneGrace) }

// heardFrom records progress from a node (leader only).
func (v *nodeView) heardFrom(id string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.heard[id] = at
}

// isGone reports whether the node's key was deleted and not put again.
func (v *nodeView) isGone(id string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	_, ok := v.gone[id]
	return ok
}

// lost returns the gone nodes that have been gone for grace by now and
// have not reported since they went.
func (v *nodeView) lost(now time.Time, grace time.Duration) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []string
	for id, at := range v.gone {
		if now.Sub(at) >= grace && !v.heard[id].After(at) {
			out = append(out, id)
		}
	}
	return out
}

// forget drops a gone id (it holds no leases any more).
func (v *nodeView) forget(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.gone, id)
	delete(v.heard, id)
}

// requeueGone (leader tick) requeues the leases of lost nodes. It also
// covers a node that died during an election (or before this leader took
// over), whose delete no leader acted on. Lost ids that hold no leases
// are forgotten.
func (s *Server) requeueGone(ctx context.Context) {
	byNode := s.store.LeasesByNode()
	for _, id := range s.nodes.lost(s.cfg.Clock(), s.goneGrace()) {
		tasks := byNode[id]
		if len(tasks) == 0 {
			s.nodes.forget(id)
			continue
		}
		s.log.Info("requeueing the leases of a lost node", "node_id", id, "leases", len(tasks), "grace", s.goneGrace())
		s.requeue(ctx, tasks, id, "node lost", failNoStrike)
	}
}

// reviveGone (leader, on a later incarnation's lease request) drops a gone
// id once the old incarnation's leases are all requeued. The deleted key
// was the old process's; the new one may be unable to register (etcd full:
// docs/architecture.md "etcd full") and, like a node never seen before,
// is granted work over NATS meanwhile. While an old lease is left (its
// requeue failed: leadership lost), the id stays gone, so requeueGone and
// the leases' expiry still return them without a strike.
func (s *Server) reviveGone(id string) {
	if !s.nodes.isGone(id) || len(s.store.LeasesByNode()[id]) > 0 {
		return
	}
	s.nodes.forget(id)
	s.log.Info("a restarted node asks for work before it could register; granting it", "node_id", id)
}
