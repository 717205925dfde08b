package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// Control requests reach only the leader. A leader that reaches its own
// NATS server but not the nodes (a cut route between NATS servers, a
// leader whose subscription is stuck) keeps its Raft quorum and its NATS
// link, so neither Raft nor the NATS link handover (coordinator/handover.go)
// moves it, and the farm would stand still. Only the nodes can tell: a
// node whose requests find no leader for UnreachableAfter, while its own
// NATS connection is up, says so in its announcement
// (NodeInfo.LeaderUnreachable), and the leader hands over when most live
// nodes say it (coordinator/unheard.go). A node whose own connection is
// down says nothing: the fault is on its side.

// reach tracks whether control requests find a leader.
type reach struct {
	mu           sync.Mutex
	failingSince time.Time // first failure since the last answer (zero: answering)
	flagged      bool      // announced as unreachable
}

// observe records the outcome of a control request at now and returns
// the announcement's new flag when it changes. connected is whether the
// node's NATS connection was up; err the request's transport error (an
// answer, even an error reply, is nil here).
// since is when the failing began (zero when answering).
func (r *reach) observe(err error, connected bool, now time.Time, after time.Duration) (flag, changed bool, since time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.failingSince = time.Time{}
		changed, r.flagged = r.flagged, false
		return false, changed, time.Time{}
	case !connected || !noLeader(err):
		return r.flagged, false, r.failingSince // no verdict on the leader
	case r.failingSince.IsZero():
		r.failingSince = now
	}
	if !r.flagged && now.Sub(r.failingSince) >= after {
		r.flagged = true
		return true, true, r.failingSince
	}
	return r.flagged, false, r.failingSince
}

// noLeader reports whether err says no leader answered: nobody listens
// on the subject, or nobody answered in time.
func noLeader(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded)
}

// noteReach records a control request's transport outcome and re-announces
// the node when its verdict on the leader changes.
func (a *Agent) noteReach(err error) {
	connected := a.cfg.NATS != nil && a.cfg.NATS.Status() == nats.CONNECTED
	flag, changed, since := a.reach.observe(err, connected, time.Now(), a.cfg.UnreachableAfter)
	if !changed {
		return
	}
	if flag {
		a.log.Warn("no leader answers this node's requests although its NATS connection is up: saying so in its announcement",
			"for_at_least", a.cfg.UnreachableAfter)
	} else {
		a.log.Info("the leader answers this node's requests again")
	}
	a.update(func(info *protocol.NodeInfo) {
		info.LeaderUnreachable, info.LeaderUnreachableSince = flag, 0
		if flag {
			info.LeaderUnreachableSince = since.Unix()
		}
	})
}
