package coordinator

import (
	"maps"
	"slices"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// Node events from this coordinator's etcd watch (membership.go): a node
// joins when its announcement appears, leaves when it is deleted, and
// announces its own drain. These are not in the Raft log, so their ids
// are local (see eventHub.publishLocal); drain/undrain/disable through the
// API are (events_fsm.go).

// get returns a live node's announcement.
func (v *nodeView) get(id string) (protocol.NodeInfo, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	n, ok := v.nodes[id]
	return n, ok
}

// noteNodePut publishes what a put of a node's announcement changes;
// called before the view records it.
func (s *Server) noteNodePut(id string, info protocol.NodeInfo) {
	prev, known := s.nodes.get(id)
	now := s.cfg.Clock()
	switch {
	case !known:
		s.events.publishLocal(api.Event{Type: api.EventNode, Node: id, State: api.NodeJoined, Time: now})
		if info.Draining {
			s.events.publishLocal(api.Event{Type: api.EventNode, Node: id, State: api.NodeDraining, Reason: info.DrainReason, Time: now})
		}
	case info.Draining && (!prev.Draining || info.DrainReason != prev.DrainReason):
		s.events.publishLocal(api.Event{Type: api.EventNode, Node: id, State: api.NodeDraining, Reason: info.DrainReason, Time: now})
	}
}

// noteNodeGone publishes a node's leave; called before the view drops it.
func (s *Server) noteNodeGone(id string) {
	if _, known := s.nodes.get(id); known {
		s.events.publishLocal(api.Event{Type: api.EventNode, Node: id, State: api.NodeLeft, Time: s.cfg.Clock()})
	}
}

// noteNodesListed publishes the differences between the view and a fresh
// listing (after the watch restarted); the first listing is the state at
// start, not news.
func (s *Server) noteNodesListed(nodes map[string]protocol.NodeInfo) {
	h := s.events
	if h == nil {
		return
	}
	h.mu.Lock()
	first := !h.nodesListed
	h.nodesListed = true
	h.mu.Unlock()
	if first {
		return
	}
	old := s.nodes.all()
	for _, id := range slices.Sorted(maps.Keys(old)) {
		if _, ok := nodes[id]; !ok {
			s.noteNodeGone(id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(nodes)) {
		s.noteNodePut(id, nodes[id])
	}
}
