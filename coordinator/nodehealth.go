package coordinator

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// Auto-drain's evidence (docs/architecture.md, "Auto-drain"): a node
// whose shards keep failing while the same shards then succeed on other
// nodes is broken (a GPU throwing Xid errors, a full disk, a poisoned
// CUDA context), not the job. The per-job blocklist keeps such a node
// off one job after a few strikes, but it would fail the first shards of
// every other job too, each failure costing that shard an attempt.
//
// The FSM feeds every voter's nodeHealth from the entries it applies, so
// a new leader already knows the streaks; it is memory only (a restarted
// voter starts empty, which only delays a drain).

// maxHealthNodes bounds the nodes nodeHealth tracks (node ids come and
// go with autoscaled droplets); the one idle longest is dropped first.
const maxHealthNodes = 4096

// failedShard is one struck failure in a node's streak.
type failedShard struct {
	key    protocol.TaskKey
	reason string
	at     time.Time
	// proven: the shard has since completed on another node.
	proven bool
}

// nodeHealth holds each node's streak: its struck failures since its last
// completed shard, newest last, at most keep of them.
type nodeHealth struct {
	mu       sync.Mutex
	keep     int
	streaks  map[string][]failedShard
	failedBy map[protocol.TaskKey][]string // shard → nodes whose streak holds it
}

func newNodeHealth(keep int) *nodeHealth {
	return &nodeHealth{keep: max(keep, 1), streaks: map[string][]failedShard{}, failedBy: map[protocol.TaskKey][]string{}}
}

// healthPre is what an entry's outcome is judged by: the task's node and
// whether the attempt was a gang's, before the entry applied.
type healthPre struct {
	node string
	gang bool
}

// before reads the task an outcome entry ends (nil h: nothing).
func (h *nodeHealth) before(st *state.Store, c command) healthPre {
	if h == nil {
		return healthPre{}
	}
	var k protocol.TaskKey
	switch c := c.(type) {
	case *taskFail:
		k = c.TaskKey
	case *taskComplete:
		k = c.TaskKey
	default:
		return healthPre{}
	}
	t, _ := st.TaskByKey(k)
	return healthPre{node: t.Assignee, gang: len(t.Peers) > 0}
}

// after records an applied entry's outcome. Failures without a strike
// (node lost, disabled, a lost lease reply, a leader change) say nothing
// about the node, nor do gang attempts (one lost rank fails them all).
func (h *nodeHealth) after(c command, pre healthPre, resp any) {
	if h == nil {
		return
	}
	if err, _ := resp.(error); err != nil {
		return
	}
	switch c := c.(type) {
	case *taskFail:
		node := c.Node
		if node == "" {
			node = pre.node
		}
		if !pre.gang && !c.NoStrike && !c.NoFault && node != "" {
			h.failed(node, failedShard{key: c.TaskKey, reason: c.Reason, at: c.At})
		}
	case *taskComplete:
		if !pre.gang && pre.node != "" {
			h.completed(pre.node, c.TaskKey)
		}
	case *nodeDrain:
		h.clear(c.Node) // drained or undrained: it starts afresh
	}
}

// failed appends a failure to node's streak.
func (h *nodeHealth) failed(node string, f failedShard) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.streaks[node]
	if !ok && len(h.streaks) >= maxHealthNodes {
		h.dropIdlest()
	}
	if len(s) >= h.keep {
		h.unlink(node, s[0].key)
		s = s[1:]
	}
	h.streaks[node] = append(s[:len(s):len(s)], f)
	if !slices.Contains(h.failedBy[f.key], node) {
		h.failedBy[f.key] = append(h.failedBy[f.key], node)
	}
}

// completed ends node's streak and proves the failures of shard k on
// other nodes.
func (h *nodeHealth) completed(node string, k protocol.TaskKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clearLocked(node)
	for _, n := range h.failedBy[k] {
		s := h.streaks[n]
		for i := range s {
			if s[i].key == k {
				s[i].proven = true
			}
		}
	}
	delete(h.failedBy, k)
}

// clear forgets node's streak.
func (h *nodeHealth) clear(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clearLocked(node)
}

func (h *nodeHealth) clearLocked(node string) {
	for _, f := range h.streaks[node] {
		h.unlink(node, f.key)
	}
	delete(h.streaks, node)
}

// unlink removes node from the nodes that failed shard k. Callers hold mu.
func (h *nodeHealth) unlink(node string, k protocol.TaskKey) {
	rest := slices.DeleteFunc(slices.Clone(h.failedBy[k]), func(n string) bool { return n == node })
	if len(rest) == 0 {
		delete(h.failedBy, k)
		return
	}
	h.failedBy[k] = rest
}

// dropIdlest forgets the node whose last failure is oldest. Callers hold mu.
func (h *nodeHealth) dropIdlest() {
	var idlest string
	var at time.Time
	for n, s := range h.streaks {
		if last := s[len(s)-1].at; idlest == "" || last.Before(at) {
			idlest, at = n, last
		}
	}
	h.clearLocked(idlest)
}

// reset forgets everything (a snapshot replaced the state).
func (h *nodeHealth) reset() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.streaks)
	clear(h.failedBy)
}

// suspect is a node with enough proven failures in its streak.
type suspect struct {
	node   string
	proven int    // failures in the streak whose shard then succeeded elsewhere
	last   string // the streak's newest reason
}

// suspects returns the nodes with at least n proven failures in their
// streak, by node id.
func (h *nodeHealth) suspects(n int) []suspect {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []suspect
	for node, s := range h.streaks {
		proven := 0
		for _, f := range s {
			if f.proven {
				proven++
			}
		}
		if proven >= n {
			out = append(out, suspect{node: node, proven: proven, last: s[len(s)-1].reason})
		}
	}
	slices.SortFunc(out, func(a, b suspect) int { return strings.Compare(a.node, b.node) })
	return out
}
