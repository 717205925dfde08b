package coordinator

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/mono"
)

// nodeLink watches the leader's link to the nodes: NATS is the only way
// node progress reaches it. The link counts as down while the NATS
// connection is (a NATS outage), and while leases are held but no node
// message at all has arrived for half a lease TTL (a hung NATS server or a
// partition between it and the leader: the connection still looks fine
// for minutes, until its pings time out; had every node died, their etcd
// announcements lapse and requeueGone takes their leases). While it is
// down no lease is expired (nor, in any case, one whose deadline passed
// with no node heard since: expireLeases); when it comes back the leases are treated as
// after an election: one LeaseTTL of grace and no strikes within
// leaseStrikeWindow (leader.go, expireLeases) — a control-plane outage
// must not blocklist every node of a week-long job.
type nodeLink struct {
	nc     *nats.Conn
	heard  func() time.Time // the last node message (Server.noteNodeTraffic)
	leased func() bool      // whether any task is leased
	quiet  time.Duration    // silence that counts as down
	log    *slog.Logger
	since  time.Time // leadership established, or the link last came back, or the wall clock stepped
	down   bool
	// monoNow and the previous observation find steps of the wall clock
	// (clockStep).
	monoNow  func() int64
	prevWall time.Time
	prevMono int64
}

func (s *Server) newNodeLink(since time.Time) *nodeLink {
	return &nodeLink{nc: s.cfg.NATS, since: since, quiet: s.cfg.LeaseTTL / 2, log: s.log,
		heard:   s.heardNodes,
		leased:  func() bool { return len(s.store.LeasedTasks()) > 0 },
		monoNow: mono.New().Now}
}

// Task lease deadlines are wall times (they travel in Raft entries), so a
// step of the leader's wall clock — NTP correcting a large offset, a VM
// resumed after a pause — would make every lease look lapsed at once (or
// never): each leased shard redone and its node struck for it. A step is
// treated as the link coming back: the leases get one LeaseTTL from now
// and no strikes (expireLeases), as after an election.

// maxClockStep is how far the wall clock may move apart from the
// monotonic one between two leader ticks before it counts as stepped
// (NTP slews smaller offsets gradually).
const maxClockStep = 2 * time.Second

// clockStep is how far the wall clock moved apart from the monotonic one
// since the last call: 0 on the first, and for a clock without a
// monotonic reading (tests' fake clocks), which cannot be compared.
func (l *nodeLink) clockStep(now time.Time) time.Duration {
	m, wall := l.monoNow(), now.Round(0)
	prevWall, prevMono := l.prevWall, l.prevMono
	l.prevWall, l.prevMono = wall, m
	if prevWall.IsZero() || now == wall {
		return 0
	}
	return wall.Sub(prevWall) - time.Duration(m-prevMono)
}

// noteNodeTraffic records that a node message reached the leader.
func (s *Server) noteNodeTraffic() { s.nodeTraffic.Store(s.cfg.Clock().UnixNano()) }

// heardNodes is when a node message last reached the leader.
func (s *Server) heardNodes() time.Time { return time.Unix(0, s.nodeTraffic.Load()) }

// observe reports whether leases may be expired now, and the time the
// control plane counts from.
func (l *nodeLink) observe(now time.Time) (up bool, since time.Time) {
	if step := l.clockStep(now); step > maxClockStep || step < -maxClockStep {
		l.since = now
		l.log.Warn("the wall clock stepped: task leases get one lease TTL from now, without strikes", "step", step.Round(time.Second))
	}
	if l.nc == nil {
		return true, l.since
	}
	why := ""
	switch heard := later(l.heard(), l.since); {
	case l.nc.Status() != nats.CONNECTED:
		why = "its NATS connection is " + l.nc.Status().String()
	case now.Sub(heard) > l.quiet && l.leased():
		why = "no node message for " + now.Sub(heard).Round(time.Second).String() + " while tasks are leased"
	}
	switch {
	case why != "" && !l.down:
		l.log.Warn("leader cut off from the nodes: holding task leases until they are heard again", "why", why)
	case why == "" && l.down:
		l.since = now
		l.log.Info("leader hears the nodes again: task leases get one lease TTL from now")
	}
	l.down = why != ""
	return !l.down, l.since
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
