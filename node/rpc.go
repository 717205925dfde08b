package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// request sends req to subject and decodes the reply into reply, within
// RequestTimeout. A wire error in the reply (errOf) is returned as a
// *protocol.Error.
func (a *Agent) request(ctx context.Context, subject string, req, reply any, errOf func() *protocol.Error) error {
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", subject, err)
	}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	msg, err := a.route.request(rctx, a.cfg.NATS, subject, a.cfg.ID, data)
	a.noteReach(err)
	if err != nil {
		a.cfg.Metrics.natsRequestFailed(err)
		return fmt.Errorf("requesting %s: %w", subject, err)
	}
	if err := json.Unmarshal(msg.Data, reply); err != nil {
		return fmt.Errorf("decoding %s reply: %w", subject, err)
	}
	if e := errOf(); e != nil {
		a.cfg.Metrics.natsRequestFailed(e)
		return e
	}
	return nil
}

// retryable reports whether a request may succeed later: no leader
// answering (failover), a timeout, or a leader that says it is not one
// (any more) or is unavailable.
func retryable(err error) bool {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case protocol.CodeNotLeader, protocol.CodeUnavailable, protocol.CodeInternal:
			return true
		}
		return false
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}

// fenced reports whether the leader says this attempt is no longer ours.
func fenced(err error) bool {
	c := protocol.CodeOf(err)
	return c == protocol.CodeStaleAttempt || c == protocol.CodeNotFound || c == protocol.CodeConflict
}

// bareProbe bounds the try of the bare subject after no responders on a
// node's own subject that worked before.
const bareProbe = time.Second

// ctlRoute picks the subject of the node's control requests. It is the
// node's own (protocol.NodeSubject: with per-node NATS users the only one
// it may publish, so the leader knows who speaks), unless the farm is
// still on an earlier release: a leader that listens only on the bare
// subject (no responders on the own one), or a nats.conf whose per-node
// users may publish only the bare one (the own subject is refused, and
// the request times out). No responders on the own subject always sends
// the node to the bare one (when a leader answers there): an election
// leaves neither served, so only an earlier leader does, even after the
// own subject has worked (coordinators rolled back, an older voter
// elected mid-upgrade). A timeout does so only until the own subject has
// worked once; a timeout on the bare subject sends the node back (the
// nats.conf may have been updated since).
type ctlRoute struct {
	bare      atomic.Bool
	ownWorked atomic.Bool
}

func (r *ctlRoute) request(ctx context.Context, nc *nats.Conn, subject, id string, data []byte) (*nats.Msg, error) {
	timedOut := func(err error) bool {
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
	}
	if r.bare.Load() {
		msg, err := nc.RequestWithContext(ctx, subject, data)
		if timedOut(err) {
			r.bare.Store(false)
		}
		return msg, err
	}
	msg, err := nc.RequestWithContext(ctx, protocol.NodeSubject(subject, id), data)
	switch {
	case err == nil:
		r.ownWorked.Store(true)
	case errors.Is(err, nats.ErrNoResponders):
		// With a per-node user whose nats.conf refuses the bare subject
		// this try times out during every election (no responders
		// anywhere), so once the own subject has worked it is brief; a
		// node that never tried it would stay deaf to an earlier leader.
		pctx := ctx
		if r.ownWorked.Load() {
			var cancel context.CancelFunc
			pctx, cancel = context.WithTimeout(ctx, bareProbe)
			defer cancel()
		}
		if msg, err = nc.RequestWithContext(pctx, subject, data); err == nil {
			r.bare.Store(true)
		}
	case r.ownWorked.Load():
		// A timeout now is an outage or a leader that hangs, not a
		// nats.conf older than one this subject already passed.
	case timedOut(err):
		r.bare.Store(true)
	}
	return msg, err
}
