package testcluster

// Faults a test injects into a running cluster: stopping voters, killing
// or freezing node agents (the executors they run are wrapped so a kill
// ends their tasks at once, as a process kill would).

import (
	"context"
	"errors"

	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// StopCoordinator stops voter i (its Raft, API and NATS connection); a
// stopped voter stays stopped.
func (c *Cluster) StopCoordinator(i int) {
	m := c.coords[i]
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	if err := <-m.done; err != nil {
		c.t.Errorf("coordinator %s: %v", m.srv.ID(), err)
	}
	m.nc.Close()
}

// KillLeader stops the current leader and returns its index.
func (c *Cluster) KillLeader() int {
	i := c.LeaderIndex()
	c.StopCoordinator(i)
	return i
}

// Node returns node agent i.
func (c *Cluster) Node(i int) *node.Agent { return c.nodes[i].a }

// ErrKilled is the cause of the contexts of the tasks KillNode ends.
var ErrKilled = errors.New("node killed")

// KillNode hard-kills node i: its NATS connection and etcd client close
// first, so it neither reports nor revokes its etcd lease (the lease
// expires after NodeLeaseTTL); then its running tasks' contexts are
// cancelled at once (cause ErrKilled), as a killed process's work and
// in-flight uploads die with it (no drain grace), and its agent is
// cancelled. Its Run is waited for in the background (and at cleanup).
func (c *Cluster) KillNode(i int) {
	n := c.nodes[i]
	n.nc.Close()
	n.etcd.Close()
	n.kill(ErrKilled)
	go n.stop(c.t)
}

// RestartNode starts node i again after KillNode, as its service manager
// would: a new agent with the same id, a later StartedAt and a new
// executor, its own NATS connection and etcd client.
func (c *Cluster) RestartNode(i int) {
	c.nodes[i].stop(c.t) // the killed agent's Run has ended
	c.nodes[i] = c.startNode(i)
}

// FreezeNode cuts node i off from NATS and etcd but lets its running
// tasks go on (they still reach storage), as a node frozen past its lease
// (SIGSTOP, a long GC pause) behind a partition would: its lease expires,
// its shards are redone elsewhere, and whatever it writes comes late.
func (c *Cluster) FreezeNode(i int) {
	n := c.nodes[i]
	n.nc.Close()
	n.etcd.Close()
}

// killableExec runs an executor under a context KillNode cancels.
type killableExec struct {
	node.Executor
	killed context.Context
}

// It forwards every node.Publisher method, or the agent would not stage.
var _ node.Publisher = killableExec{}

func (k killableExec) Execute(ctx context.Context, a protocol.Assignment, progress func(int)) (protocol.ShardInfo, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(k.killed, func() { cancel(context.Cause(k.killed)) })
	defer stop()
	return k.Executor.Execute(ctx, a, progress)
}

// Publish forwards node.Publisher (nothing to do when the executor is
// none), under the same kill as Execute.
func (k killableExec) Publish(ctx context.Context, a protocol.Assignment, info protocol.ShardInfo) error {
	p, ok := k.Executor.(node.Publisher)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(k.killed, func() { cancel(context.Cause(k.killed)) })()
	return p.Publish(ctx, a, info)
}

// Discard forwards node.Publisher.
func (k killableExec) Discard(ctx context.Context, a protocol.Assignment) error {
	if p, ok := k.Executor.(node.Publisher); ok {
		return p.Discard(ctx, a)
	}
	return nil
}

// Settle forwards node.Publisher.
func (k killableExec) Settle(ctx context.Context, a protocol.Assignment) error {
	if p, ok := k.Executor.(node.Publisher); ok {
		return p.Settle(ctx, a)
	}
	return nil
}

// Settled forwards node.Publisher (false when the executor is none).
func (k killableExec) Settled(ctx context.Context, a protocol.Assignment) (bool, error) {
	if p, ok := k.Executor.(node.Publisher); ok {
		return p.Settled(ctx, a)
	}
	return false, nil
}

// Models forwards node.ModelLister (nil when the executor is none).
func (k killableExec) Models() []string {
	if ml, ok := k.Executor.(node.ModelLister); ok {
		return ml.Models()
	}
	return nil
}
