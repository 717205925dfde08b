package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// A node's etcd announcement with a later StartedAt says it restarted, so
// its old leases can go back at once. But anyone holding a worker's etcd
// certificate may write any node's announcement (docs/deploy.md §9), so the
// leader does not requeue on etcd alone: it waits goneGrace for the restart
// to show on NATS, where each node speaks on its own subject. A lease
// request of the new incarnation requeues the old leases at once
// (noteIncarnation); progress from the node on its leases meanwhile means
// the old process is alive and the announcement is ignored (forged, or a
// clock gone wrong); silence means the process died, and the old leases
// are requeued then. As for a deleted key (nodegone.go), the leases' own
// expiry bounds the wait either way. Every coordinator still records each
// announced incarnation (noteAnnounced), so whoever leads next knows the
// current one: a record left behind would make it requeue the leases of a
// live process that an earlier leader granted.

// maxPendingRestarts bounds the announcements waited on.
const maxPendingRestarts = 10000

// pendingRestart is a later incarnation read from etcd, not yet confirmed.
type pendingRestart struct {
	started time.Time // the announced StartedAt
	seen    time.Time // when the leader read it
}

// restartWatch holds the pending restarts by node id (leader only).
type restartWatch struct {
	mu sync.Mutex
	by map[string]pendingRestart
}

func newRestartWatch() *restartWatch { return &restartWatch{by: map[string]pendingRestart{}} }

// note records an announced restart (the first one seen is kept).
func (w *restartWatch) note(id string, started, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.by[id]; ok && !started.After(p.started) {
		return
	}
	if len(w.by) >= maxPendingRestarts {
		return // the leases' expiry still requeues them
	}
	w.by[id] = pendingRestart{started: started, seen: now}
}

// settled drops a pending restart that a lease request of incarnation
// started (or a later one) has settled, and reports whether one did.
func (w *restartWatch) settled(id string, started time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.by[id]; ok && !started.Before(p.started) {
		delete(w.by, id)
		return true
	}
	return false
}

// reset forgets every pending restart (leadership lost: the next leader
// starts from its own records).
func (w *restartWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.by)
}

// due removes and returns the restarts pending for grace by now.
func (w *restartWatch) due(now time.Time, grace time.Duration) map[string]pendingRestart {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]pendingRestart{}
	for id, p := range w.by {
		if now.Sub(p.seen) >= grace {
			out[id] = p
			delete(w.by, id)
		}
	}
	return out
}

// noteAnnounced records an incarnation read from etcd. The leader also
// notes a later one as a pending restart (restartWatch) instead of
// requeueing the node's leases at once.
func (s *Server) noteAnnounced(info protocol.NodeInfo) {
	if info.StartedAt.IsZero() || info.ID == "" {
		return
	}
	v := s.nodes
	v.incMu.Lock()
	later := v.recordLocked(info)
	v.incMu.Unlock()
	if later && s.IsLeader() {
		s.restarts.note(info.ID, info.StartedAt, s.cfg.Clock())
	}
}

// confirmRestarts (leader tick) acts on the announced restarts that NATS
// neither confirmed nor contradicted within goneGrace.
func (s *Server) confirmRestarts(ctx context.Context) {
	now := s.cfg.Clock()
	for id, p := range s.restarts.due(now, s.goneGrace()) {
		if s.nodes.heardSince(id, p.seen) {
			s.log.Warn("ignoring an announced restart: the node still reports progress on its leases (a forged announcement?)",
				"node_id", id, "announced_started_at", p.started)
			continue
		}
		s.nodes.incMu.Lock() // no lease of the new incarnation is granted meanwhile (Lease → noteIncarnation)
		old := s.store.LeasesByNode()[id]
		s.nodes.incMu.Unlock()
		if len(old) > 0 {
			s.log.Info("node restarted (announced, silent since)", "node_id", id, "started_at", p.started, "leases", len(old))
			s.requeue(ctx, old, id, "node restarted", failNoStrike)
		}
	}
}

// heardSince reports whether the leader had progress from node id after t.
func (v *nodeView) heardSince(id string, t time.Time) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.heard[id].After(t)
}
