package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/protocol"
)

// Membership: every coordinator watches protocol.NodePrefix in etcd (the
// node view behind /v1/nodes); the leader also requeues the tasks of a node
// whose key is deleted (lease expired or revoked: node gone), and of a
// node's previous incarnation when it comes back under the same id
// (NodeInfo.StartedAt changed: the process restarted, so nothing it had
// leased is running any more; its etcd key may never be deleted because
// the new process re-put it before the old lease expired). Each
// coordinator publishes its API base URL under protocol.CoordinatorKey(id),
// bound to an etcd lease, so followers can find the leader's API to
// forward writes.

const registrationTTL = 10 // seconds

// nodeView is the set of live nodes from the watch, and the incarnation
// (StartedAt) last seen of every node id, from the watch or its lease
// requests.
type nodeView struct {
	mu    sync.RWMutex
	nodes map[string]protocol.NodeInfo
	// gone holds the ids whose key the watch saw deleted (and not put
	// again), with when: every coordinator records them, so a leader
	// elected after a node died still requeues its leases (requeueGone)
	// even when no coordinator was leader when the delete arrived.
	gone map[string]time.Time
	// heard is when the leader last had progress from each node
	// (nodegone.go: a node still reporting is not lost).
	heard map[string]time.Time
	// flagged is when this coordinator's watch saw each node begin to say
	// no leader answers it (NodeInfo.LeaderUnreachable), by its own clock:
	// unreachedSince prefers it to the node's own word, which a node clock
	// far off would skew. A node first seen already saying it has none.
	flagged map[string]time.Time

	// incMu serialises incarnation changes with the lease path: the tasks
	// of an old incarnation are listed while it is held, so no lease of
	// the new one can be among them (see noteIncarnation).
	incMu   sync.Mutex
	started map[string]time.Time
}

func newNodeView() *nodeView {
	return &nodeView{nodes: map[string]protocol.NodeInfo{}, gone: map[string]time.Time{}, heard: map[string]time.Time{},
		flagged: map[string]time.Time{}, started: map[string]time.Time{}}
}

// set replaces the view with a full listing. A node that began saying no
// leader answers it while the watch was down has no flagged time (when it
// began is its word only).
func (v *nodeView) set(n map[string]protocol.NodeInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for id := range v.flagged {
		if !n[id].LeaderUnreachable || !v.nodes[id].LeaderUnreachable {
			delete(v.flagged, id)
		}
	}
	v.nodes = n
	for id := range n {
		delete(v.gone, id)
	}
}

// put records a node's announcement, seen at at by this coordinator.
func (v *nodeView) put(id string, n protocol.NodeInfo, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	prev, had := v.nodes[id]
	switch {
	case !n.LeaderUnreachable:
		delete(v.flagged, id)
	case had && !prev.LeaderUnreachable:
		v.flagged[id] = at // seen beginning now
	}
	v.nodes[id] = n
	delete(v.gone, id)
}

func (v *nodeView) del(id string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.nodes, id)
	delete(v.flagged, id)
	if _, already := v.gone[id]; !already {
		v.gone[id] = at
	}
}

func (v *nodeView) all() map[string]protocol.NodeInfo {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return maps.Clone(v.nodes)
}

// unreached counts the live nodes that say no leader answers them
// (NodeInfo.LeaderUnreachable), without copying the view: the leader asks
// every tick (unheard.go).
func (v *nodeView) unreached() (unreached, live int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, n := range v.nodes {
		if n.LeaderUnreachable {
			unreached++
		}
	}
	return unreached, len(v.nodes)
}

// unreachedSince is when need of the live nodes were saying no leader
// answers them: the need-th earliest of their times, each the one this
// coordinator saw it begin at (flagged) or else the node's own
// (NodeInfo.LeaderUnreachableSince, its clock); zero when fewer than need
// have a time.
func (v *nodeView) unreachedSince(need int) time.Time {
	v.mu.RLock()
	var since []time.Time // not UnixNano: a node may announce any number of seconds
	for id, n := range v.nodes {
		if !n.LeaderUnreachable {
			continue
		}
		if at, ok := v.flagged[id]; ok {
			since = append(since, at)
		} else if n.LeaderUnreachableSince > 0 {
			since = append(since, time.Unix(n.LeaderUnreachableSince, 0))
		}
	}
	v.mu.RUnlock()
	if need < 1 || len(since) < need {
		return time.Time{}
	}
	slices.SortFunc(since, time.Time.Compare)
	return since[need-1]
}

// Nodes joins the live nodes with the tasks leased to each and their
// control state (nodes holding leases or drained but gone from etcd are
// listed with Live false).
func (s *Server) Nodes() []api.NodeStatus {
	live := s.nodes.all()
	leases := s.store.LeasesByNode()
	controls := s.store.NodeControls()
	ids := slices.Sorted(maps.Keys(live))
	var others []string // holding leases or drained, gone from etcd
	for id := range leases {
		if _, ok := live[id]; !ok {
			others = append(others, id)
		}
	}
	for id := range controls {
		if _, ok := live[id]; !ok && leases[id] == nil {
			others = append(others, id)
		}
	}
	ids = append(ids, slices.Sorted(slices.Values(others))...)
	out := []api.NodeStatus{}
	for _, id := range ids {
		info, ok := live[id]
		if !ok {
			info = protocol.NodeInfo{ID: id}
		}
		ns := api.NodeStatus{Info: info, Live: ok, Leases: leases[id]}
		if c, drained := controls[id]; drained {
			ns.Control = &c
		}
		out = append(out, ns)
	}
	return out
}

// watchNodes keeps the node view current, restarting the watch on errors.
func (s *Server) watchNodes(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.watchNodesOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("node watch", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Server) watchNodesOnce(ctx context.Context) error {
	resp, err := s.cfg.Etcd.Get(ctx, protocol.NodePrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	nodes := map[string]protocol.NodeInfo{}
	for _, kv := range resp.Kvs {
		if id, info, ok := s.decodeNode(kv.Key, kv.Value); ok {
			nodes[id] = info
		}
	}
	s.noteNodesListed(nodes) // events (events_nodes.go)
	s.nodes.set(nodes)
	for _, id := range slices.Sorted(maps.Keys(nodes)) {
		s.noteAnnounced(nodes[id])
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cfg.Etcd.Watch(wctx, protocol.NodePrefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watching nodes: %w", err)
		}
		for _, ev := range wr.Events {
			s.nodeEvent(ctx, ev)
		}
	}
	return ctx.Err()
}

func (s *Server) nodeEvent(ctx context.Context, ev *clientv3.Event) {
	if ev.Type == clientv3.EventTypePut {
		if id, info, ok := s.decodeNode(ev.Kv.Key, ev.Kv.Value); ok {
			s.noteNodePut(id, info)
			s.nodes.put(id, info, s.cfg.Clock())
			s.noteAnnounced(info) // a restart is acted on once NATS agrees (restarts.go)
		}
		return
	}
	id, ok := protocol.NodeIDFromKey(string(ev.Kv.Key))
	if !ok {
		return
	}
	s.noteNodeGone(id)
	s.nodes.del(id, s.cfg.Clock())
	s.log.Info("node gone", "node_id", id)
	if g := s.gangs.leave(id); g != nil {
		s.releaseGang(g, "every member left")
	}
	// Its leases are requeued by requeueGone (leader tick) unless it
	// registers again or reports within goneGrace (nodegone.go).
}

// noteIncarnation records the node's incarnation (its StartedAt; zero from
// older nodes: ignored) from its lease request. When a later one appears,
// or one announced in etcd (restarts.go), the leader requeues at once
// every task leased to the node id: the old process is gone, so
// waiting out each task lease would only delay its shards. The list is taken under incMu,
// which the lease path also holds while noting its requester (Lease), so a
// lease already granted to the new incarnation is never in it; each
// TaskFail is fenced by its attempt besides.
func (s *Server) noteIncarnation(ctx context.Context, info protocol.NodeInfo) {
	if info.StartedAt.IsZero() || info.ID == "" {
		return
	}
	v := s.nodes
	v.incMu.Lock()
	// Only a later incarnation counts: a request of a frozen old process
	// that wakes up must not requeue the new process's leases. One whose
	// announcement came first (restarts.go) is pending: its request
	// settles it.
	restarted := v.recordLocked(info)
	restarted = s.restarts.settled(info.ID, info.StartedAt) || restarted
	var old []protocol.Task
	if restarted && s.IsLeader() {
		old = s.store.LeasesByNode()[info.ID]
	}
	v.incMu.Unlock()
	if !restarted {
		return
	}
	s.log.Info("node restarted", "node_id", info.ID, "started_at", info.StartedAt, "leases", len(old))
	s.requeue(ctx, old, info.ID, "node restarted", failNoStrike)
	s.reviveGone(info.ID)
}

// recordLocked records info's incarnation if it is the node's first or a
// later one, and reports whether it is later than the one known. Callers
// hold incMu.
func (v *nodeView) recordLocked(info protocol.NodeInfo) (later bool) {
	prev, known := v.started[info.ID]
	later = known && info.StartedAt.After(prev)
	if !known || later {
		v.started[info.ID] = info.StartedAt
	}
	return later
}

// isCurrent reports whether info is not from an older incarnation of its
// node than the latest one seen (noteIncarnation).
func (v *nodeView) isCurrent(info protocol.NodeInfo) bool {
	v.incMu.Lock()
	defer v.incMu.Unlock()
	started, known := v.started[info.ID]
	return !known || !info.StartedAt.Before(started)
}

func (s *Server) decodeNode(key, value []byte) (string, protocol.NodeInfo, bool) {
	id, ok := protocol.NodeIDFromKey(string(key))
	var info protocol.NodeInfo
	if ok {
		if err := json.Unmarshal(value, &info); err != nil {
			s.log.Warn("bad node announcement", "node_id", id, "err", err)
		}
		info = info.Sanitized()
		info.ID = id
	}
	return id, info, ok
}

// requeue fails the given tasks of a lost, restarted or disabled node
// without a blocklist strike: a crashed or killed process says nothing
// about the job (the blocklist is for a job that fails on a node — a bad
// model, an unreadable prompt file), and striking would fail every running
// job of a one-node farm (sanafarm dev) after two crashes. A shard that
// really crashes its nodes is still bounded by its max attempts, so only
// an operator's disable (kind failNoFault) leaves them uncounted.
func (s *Server) requeue(ctx context.Context, tasks []protocol.Task, node, reason string, kind failKind) {
	ctx, cancel := context.WithTimeout(ctx, trafficTimeout)
	defer cancel()
	for _, t := range tasks {
		s.endAttempt(ctx, t, node, reason, kind)
	}
}

// registerAPI publishes this coordinator's API URL under an etcd lease and
// keeps it alive; on loss it registers again, backing off to the lease's
// TTL. A registration lost is logged as a warning, and so is the first
// failure to register again; the rest of a run of failures (an etcd down
// for an hour, or refusing writes: docs/architecture.md "etcd full") at
// debug, so the journal is not a line a second.
func (s *Server) registerAPI(ctx context.Context) {
	b := backoff.Policy{Base: time.Second, Max: registrationTTL * time.Second, Jitter: 0.25}.New()
	var streak backoff.Streak
	for ctx.Err() == nil {
		registered, err := s.registerOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		msg := "registering this coordinator's api address in etcd failed; trying again"
		if registered {
			b.Reset()
			msg = "coordinator registration lost; registering again"
		}
		s.log.Log(ctx, streak.Level(registered), msg, "err", err)
		if !b.Wait(ctx) {
			return
		}
	}
}

// registerOnce registers and keeps the registration alive until it is
// lost or ctx ends; registered says whether it got that far.
func (s *Server) registerOnce(ctx context.Context) (registered bool, err error) {
	etcd := s.cfg.Etcd
	lease, err := etcd.Grant(ctx, registrationTTL)
	if err != nil {
		return false, fmt.Errorf("granting lease: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = etcd.Revoke(rctx, lease.ID)
	}()
	if _, err := etcd.Put(ctx, protocol.CoordinatorKey(s.cfg.ID), s.advertise, clientv3.WithLease(lease.ID)); err != nil {
		return false, fmt.Errorf("publishing api address: %w", err)
	}
	features := strings.Join(protocol.Features, ",")
	if _, err := etcd.Put(ctx, protocol.FeatureKey(s.cfg.ID), features, clientv3.WithLease(lease.ID)); err != nil {
		return false, fmt.Errorf("publishing features: %w", err)
	}
	ka, err := etcd.KeepAlive(ctx, lease.ID)
	if err != nil {
		return false, fmt.Errorf("keeping lease alive: %w", err)
	}
	s.publishDataDisk(ctx, lease.ID, ka) // until the lease is lost or ctx ends
	return true, errors.New("keepalive channel closed")
}

// errNoLeader: no leader is known right now.
var errNoLeader = errors.New("no raft leader")

// LeaderURL returns the API base URL of the current leader.
func (s *Server) LeaderURL(ctx context.Context) (string, error) {
	id, _ := s.Leader()
	switch {
	case id == "":
		return "", errNoLeader
	case id == s.cfg.ID:
		return s.advertise, nil
	case s.cfg.Etcd == nil:
		return "", fmt.Errorf("leader %s: no etcd to look up its api address", id)
	}
	resp, err := s.cfg.Etcd.Get(ctx, protocol.CoordinatorKey(id))
	if err != nil {
		return "", fmt.Errorf("looking up leader %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("leader %s has not published its api address", id)
	}
	return string(resp.Kvs[0].Value), nil
}
