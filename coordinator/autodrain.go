package coordinator

import (
	"context"
	"fmt"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Auto-drain (docs/architecture.md, "Auto-drain"): the leader drains a
// node whose last AutoDrainAfter struck failures were all of shards that
// then completed on other nodes (nodehealth.go). A drain, not a disable:
// the node's running shards may still finish, and `sanafarm undrain`
// gives it back once the operator has looked at it.

// DefaultAutoDrainAfter is the proven failures in a row that drain a node.
// Above the per-job blocklist's default of 2: a node that fails one job
// twice is only kept off that job, three in a row drains it.
const DefaultAutoDrainAfter = 3

// autoDrainShare bounds the live nodes that may stand auto-drained at
// once: a quarter (at least one). More at once points at the cluster
// (a bad release, a store or model everyone reads), not at the nodes,
// and draining them would stop the farm.
const autoDrainShare = 4

// capWarnEvery rate-limits the warning that the cap holds a drain back.
const capWarnEvery = time.Minute

// autoDrainAfter is the configured threshold (0: off).
func (s *Server) autoDrainAfter() int {
	switch n := s.cfg.AutoDrainAfter; {
	case n < 0:
		return 0
	case n == 0:
		return DefaultAutoDrainAfter
	default:
		return n
	}
}

// autoDrain (leader tick) drains the suspects the cap allows.
func (s *Server) autoDrain(ctx context.Context, lastWarn *time.Time) {
	n := s.autoDrainAfter()
	if n == 0 {
		return
	}
	suspects := s.fsm.health.suspects(n)
	if len(suspects) == 0 {
		return
	}
	live, auto := s.drainedCounts()
	for _, sp := range suspects {
		if c, _ := s.store.NodeControl(sp.node); c.Drain {
			s.fsm.health.clear(sp.node) // drained meanwhile; forget it
			continue
		}
		if auto >= max(1, live/autoDrainShare) {
			if now := s.cfg.Clock(); now.Sub(*lastWarn) >= capWarnEvery {
				*lastWarn = now
				s.log.Warn("not auto-draining a failing node: too many nodes are auto-drained already (undrain the ones that are fixed)",
					"node_id", sp.node, "failures", sp.proven, "auto_drained", auto, "live_nodes", live)
			}
			return
		}
		if err := s.drainSuspect(ctx, sp, n); err != nil {
			s.log.Warn("auto-draining a node", "node_id", sp.node, "err", err)
			return
		}
		auto++
	}
}

// drainSuspect commits an automatic drain of sp.
func (s *Server) drainSuspect(ctx context.Context, sp suspect, n int) error {
	reason := fmt.Sprintf("auto-drained: %d shards in a row failed on this node and then succeeded on others; last error: %s",
		sp.proven, sp.last)
	c := protocol.NodeDrain{Node: sp.node, Drain: true, Auto: true, Reason: protocol.Clip(reason, protocol.MaxDrainReason-len("…")),
		At: s.cfg.Clock()}
	if _, err := s.apply(ctx, protocol.CmdNodeDrain|protocol.IgnoreUnknown, c); err != nil {
		return err
	}
	s.log.Warn("node auto-drained: its shards keep failing while other nodes complete them; "+
		"look at it, then run sanafarm undrain", "node_id", sp.node, "failures", sp.proven, "threshold", n, "last_error", sp.last)
	return nil
}

// drainedCounts returns the live nodes and how many of them stand
// auto-drained.
func (s *Server) drainedCounts() (live, auto int) {
	for id := range s.nodes.all() {
		live++
		if c, _ := s.store.NodeControl(id); c.Auto {
			auto++
		}
	}
	return live, auto
}
