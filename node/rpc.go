package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	msg, err := a.cfg.NATS.RequestWithContext(rctx, subject, data)
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
