package coordinator

import (
	"context"
	"time"
)

// A leader whose NATS link works but whose node traffic does not arrive
// (a cut route between its NATS server and the nodes', a subscription
// that stopped delivering) is moved by neither Raft nor the NATS link
// handover (handover.go), and the farm would stand still. The nodes see
// it: each one whose control requests find no leader while its own NATS
// connection is up says so in its announcement
// (NodeInfo.LeaderUnreachable, node/reach.go). When most live nodes have
// said so for NATSHandoverAfter, and this leader has led that long, it
// hands the leadership to the next voter that announces a NATS link
// (pickLinked). If that one is cut off from the nodes too, it hands on in
// turn, so every voter gets tried. While this leader's own link is down
// the NATS link handover decides instead.
//
// When the fault is on the nodes' side (one node black-holed from NATS
// while its etcd works, the farm's only node), every leader in turn is
// "unreachable", and each handover only costs an election. So a leader
// that took office after most nodes had begun saying it
// (NodeInfo.LeaderUnreachableSince) waits as long as the outage had
// lasted before it, up to maxUnheardFactor × NATSHandoverAfter: the waits
// double from leader to leader (unheardWait). The spell's start is the one
// this coordinator's watch saw, by its own clock, where it saw it begin
// (nodeView.unreachedSince), so node clocks matter only for spells older
// than its watch.

// unheard is the leader loop's view of the nodes' verdicts on it.
type unheard struct {
	since   time.Time // when most live nodes were first seen saying it (zero: they are not)
	checked time.Time // the last read of the announcements of the coordinators' links
	warned  bool      // "staying leader" said for this spell
	waiting bool      // "waiting longer" said for this spell
}

// maxUnheardFactor bounds a leader's wait, in NATSHandoverAfter, when the
// nodes' outage predates it (20 s × 16: about 5 minutes by default).
const maxUnheardFactor = 16

// unheardWait is how long most nodes must say a leader that took office
// at led cannot reach them before it hands on: wait, or when their outage
// began before led (by the nodes' clocks; zero: not said) as long as it
// had lasted then, at most maxUnheardFactor × wait.
func unheardWait(wait time.Duration, led, outage time.Time) time.Duration {
	if outage.IsZero() || !led.After(outage) {
		return wait
	}
	return min(max(wait, led.Sub(outage)), maxUnheardFactor*wait)
}

// mostUnreached reports whether most live nodes say no leader answers
// them, with the counts.
func (s *Server) mostUnreached() (ok bool, unreached, live int) {
	unreached, live = s.nodes.unreached()
	return live > 0 && 2*unreached > live, unreached, live
}

// maybeHandOverUnheard (leader tick) hands the leadership on when most
// live nodes have said for NATSHandoverAfter that they cannot reach this
// leader, which has led at least that long (since); it reports whether
// it did.
func (s *Server) maybeHandOverUnheard(ctx context.Context, u *unheard, since time.Time) bool {
	if s.cfg.NATS == nil || s.cfg.Etcd == nil || s.cfg.NATSHandoverAfter < 0 || !s.natsUp.Load() {
		*u = unheard{}
		return false
	}
	most, unreached, live := s.mostUnreached()
	if !most {
		*u = unheard{}
		return false
	}
	now := s.cfg.Clock()
	if u.since.IsZero() {
		u.since = now
	}
	r := s.getRaft()
	wait := s.cfg.NATSHandoverAfter
	if r == nil || now.Sub(u.since) < wait || now.Sub(since) < wait || now.Sub(u.checked) < time.Second {
		return false
	}
	u.checked = now
	if longer := unheardWait(wait, since, s.nodes.unreachedSince(live/2+1)); now.Sub(u.since) < longer {
		if !u.waiting {
			u.waiting = true
			s.log.Warn("most live nodes could not reach a leader before this one took office: waiting as long as that lasted before handing on",
				"wait", longer, "unreached", unreached, "live", live)
		}
		return false
	}
	id, addr, ok := s.linkedVoter(ctx, r)
	if !ok {
		if !u.warned {
			u.warned = true
			s.log.Warn("most live nodes cannot reach this leader, and no other voter announces a NATS link: staying leader",
				"unreached", unreached, "live", live)
		}
		return false
	}
	s.log.Warn("most live nodes cannot reach this leader although its NATS link works: handing the leadership on",
		"to", id, "unreached", unreached, "live", live, "for", now.Sub(u.since).Round(time.Second))
	return s.transferTo(r, id, addr)
}
