package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestNodeEvents: the etcd watch's puts and deletes become join, drain
// and leave events (the first listing is the state at start, not news);
// a drain the node gives a reason for (it restarts) carries it.
func TestNodeEvents(t *testing.T) {
	s := &Server{nodes: newNodeView(), events: newEventHub(eventLimits{}), cfg: Config{Clock: time.Now}}
	sub, _, _ := s.events.subscribe(api.EventFilter{}, nil)
	put := func(id string, draining bool, reason ...string) {
		info := protocol.NodeInfo{ID: id, Draining: draining}
		if len(reason) > 0 {
			info.DrainReason = reason[0]
		}
		s.noteNodePut(id, info)
		s.nodes.put(id, info, time.Now())
	}
	list := func(ids ...string) {
		m := map[string]protocol.NodeInfo{}
		for _, id := range ids {
			m[id] = protocol.NodeInfo{ID: id}
		}
		s.noteNodesListed(m)
		s.nodes.set(m)
	}
	list("n0")                    // at start: nothing
	put("n1", false)              // joined
	put("n1", false)              // a re-announcement: nothing
	put("n1", true)               // draining
	put("n1", true)               // a re-announcement: nothing
	put("n1", true, "GPU fault")  // why, said later: draining (GPU fault)
	s.noteNodeGone("n1")          // left
	s.nodes.del("n1", time.Now()) //
	s.noteNodeGone("nx")          // never seen: nothing
	list("n2")                    // after a watch restart: n0 left, n2 joined
	var got []string
	for len(sub.ch) > 0 {
		e := <-sub.ch
		got = append(got, e.Node+" "+e.State)
		if e.Reason != "" {
			got[len(got)-1] += " (" + e.Reason + ")"
		}
	}
	want := []string{"n1 joined", "n1 draining", "n1 draining (GPU fault)", "n1 left", "n0 left", "n2 joined"}
	if !slices.Equal(got, want) {
		t.Fatalf("node events %q, want %q", got, want)
	}
}
