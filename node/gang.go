package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/shard"
)

// Gang assignments (protocol.Assignment.Ranks > 1): the agent joins the
// rank's shard.Transport on a NATS connection of its own (subjects under the
// assignment's Group) and hands it to the executor through the context
// (WithGroup), so executor wrappers need not know about it. Every rank
// computes and reports progress; rank 0 writes the shard and reports the
// result; any rank reports a failure (a lost peer fails the transport on
// every surviving rank within PeerTimeout), which fails the attempt.

type groupKey struct{}

// WithGroup returns ctx carrying the transport of the rank of a gang
// assignment that the executor runs.
func WithGroup(ctx context.Context, t shard.Transport) context.Context {
	return context.WithValue(ctx, groupKey{}, t)
}

// GroupFrom returns the gang transport WithGroup stored in ctx.
func GroupFrom(ctx context.Context) (shard.Transport, bool) {
	t, ok := ctx.Value(groupKey{}).(shard.Transport)
	return t, ok && t != nil
}

// errNotGang rejects a gang assignment the node cannot run.
var errNotGang = errors.New("node does not run parallel (gang) assignments")

// joinGroup connects this rank to its gang and waits until every rank has
// joined (GroupJoinTimeout). The caller closes the transport.
func (a *Agent) joinGroup(ctx context.Context, asg protocol.Assignment) (shard.Transport, error) {
	if a.cfg.NoGang {
		return nil, errNotGang
	}
	if asg.Group == "" || asg.Rank < 0 || asg.Rank >= asg.Ranks {
		return nil, fmt.Errorf("gang assignment rank %d of %d in group %q", asg.Rank, asg.Ranks, asg.Group)
	}
	// A rank publishes under its node's id, which a per-node NATS user is
	// limited to (protocol.NodePermissions).
	if len(asg.Peers) > 0 && (len(asg.Peers) != asg.Ranks || asg.Peers[asg.Rank] != a.cfg.ID) {
		return nil, fmt.Errorf("gang assignment in group %q: peers %q do not name this node (%s) as rank %d of %d",
			asg.Group, asg.Peers, a.cfg.ID, asg.Rank, asg.Ranks)
	}
	jctx, cancel := context.WithTimeout(ctx, a.cfg.GroupJoinTimeout)
	defer cancel()
	// Its own connection, dialled with the node's options (servers,
	// credentials, TLS): bounded buffers, and a slow or lost gang fails
	// only the gang, never the node's lease traffic.
	t, err := shard.NewNATS(jctx, shard.NATSConfig{Options: &a.cfg.NATS.Opts, Group: asg.Group, Rank: asg.Rank, Size: asg.Ranks,
		Peers: asg.Peers, Addressed: asg.Addressed, PeerTimeout: a.cfg.PeerTimeout, Logger: a.log.With("job_id", asg.Task.Job, "shard", asg.Task.Shard)})
	if err != nil {
		return nil, fmt.Errorf("joining gang %s as rank %d of %d: %w", asg.Group, asg.Rank, asg.Ranks, err)
	}
	return t, nil
}
