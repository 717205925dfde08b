package coordinator

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// monitorLeadership starts the leader loop when this server becomes leader
// and stops it (its deferred revoke) when it stops being leader.
func (s *Server) monitorLeadership(ctx context.Context) {
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-s.notifyCh:
			s.metrics.leadership(leader)
			switch {
			case leader && stop == nil:
				stop = s.startLeaderLoop(ctx)
			case !leader && stop != nil:
				stop()
				stop = nil
			}
		}
	}
}

// startLeaderLoop runs leaderLoop until the returned stop is called.
func (s *Server) startLeaderLoop(ctx context.Context) (stop func()) {
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.leaderLoop(lctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// leaderLoop runs leader-only work: after a barrier (the FSM has every
// committed entry), it subscribes to node traffic and, every tick, commits
// buffered progress, expires leases and gangs and fails stuck jobs; job
// manifests are written as soon as jobs are done (an event from the
// store, see manifests), and retried on ticks.
func (s *Server) leaderLoop(ctx context.Context) {
	if err := s.barrier(ctx); err != nil {
		s.log.Warn("leader barrier failed", "err", err)
		return
	}
	subs, ok := s.leaderSubscribe(ctx)
	defer s.revoke(subs)
	if !ok {
		return
	}
	s.serving.Store(true)
	led := s.cfg.Clock()
	s.log.Info("leadership established", "index", s.store.Index())
	t := time.NewTicker(s.cfg.ProgressInterval)
	defer t.Stop()
	var writers sync.WaitGroup // job manifests (see manifests)
	defer writers.Wait()
	stuck := s.newStuckJobs()
	gc := &jobGC{}
	link := s.newNodeLink(led)
	ho := &handover{}                       // handover.go
	uh := &unheard{}                        // unheard.go
	var capWarned time.Time                 // autoDrain's rate-limited warning
	s.manifestDispatch(ctx, &writers, true) // done jobs left without a manifest
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.store.JobDone():
			s.manifestDispatch(ctx, &writers, true)
		case <-s.manifests.wake:
			s.manifestDispatch(ctx, &writers, false)
		case <-t.C:
			s.flushProgress(ctx)
			up, since := link.observe(s.cfg.Clock())
			if up {
				s.expireLeases(ctx, since)
			}
			s.requeueGone(ctx)
			s.confirmRestarts(ctx)
			s.autoDrain(ctx, &capWarned)
			s.pruneLeaseLogs(up, since)
			if s.maybeHandOver(ctx, ho) || s.maybeHandOverUnheard(ctx, uh, led) {
				continue // no longer the leader: the loop is stopped
			}
			s.expireGangs(ctx)
			s.failStuckJobs(ctx, stuck)
			s.failTimedOut(ctx) // timeout.go
			s.collectJobs(ctx, gc)
			s.manifestDispatch(ctx, &writers, true)
		}
	}
}

// subscribeTries is how many times a new leader tries to subscribe to node
// traffic before it hands the leadership to another voter.
const subscribeTries = 3

// leaderSubscribe subscribes to node traffic, trying again every second
// while this server leads: a leader that gave up would stay Raft leader
// with nobody answering the nodes, and the farm would stand still. After
// subscribeTries failures it hands the leadership to another voter (if
// there is one), which may reach NATS. ok is false once ctx ends.
func (s *Server) leaderSubscribe(ctx context.Context) ([]*nats.Subscription, bool) {
	for try := 1; ; try++ {
		subs, err := s.subscribe()
		if err == nil {
			return subs, true
		}
		s.unsubscribe(subs)
		s.log.Error("subscribing to node traffic", "try", try, "err", err)
		if r := s.getRaft(); try%subscribeTries == 0 && r != nil {
			// Only to a voter whose link works (handover.go): two voters
			// with broken links would hand it back and forth.
			if id, addr, ok := s.linkedVoter(ctx, r); ok {
				s.log.Warn("handing the leadership to a voter that reaches NATS", "to", id)
				s.transferTo(r, id, addr)
			}
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(time.Second):
		}
	}
}

// unsubscribe drops subscriptions (closed connections need nothing).
func (s *Server) unsubscribe(subs []*nats.Subscription) {
	for _, sub := range subs {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			s.log.Warn("unsubscribing", "subject", sub.Subject, "err", err)
		}
	}
}

// revoke undoes leader-only setup.
func (s *Server) revoke(subs []*nats.Subscription) {
	s.serving.Store(false)
	s.unsubscribe(subs)
	s.progress.reset()
	s.grants.reset()
	s.seqs.reset()
	s.restarts.reset()
	for _, g := range s.gangs.reset() {
		s.releaseGang(g, "leadership lost")
	}
	s.log.Info("leadership revoked")
}

// progressBuffer aggregates progress reports between commits: one
// TaskProgress entry per interval instead of one per report.
type progressBuffer struct {
	mu      sync.Mutex
	pending map[protocol.TaskKey]protocol.ProgressUpdate
}

func newProgressBuffer() *progressBuffer {
	return &progressBuffer{pending: map[protocol.TaskKey]protocol.ProgressUpdate{}}
}

func (b *progressBuffer) add(u protocol.ProgressUpdate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.pending[u.TaskKey]; ok && old.Attempt == u.Attempt && old.Done > u.Done {
		u.Done = old.Done
	}
	b.pending[u.TaskKey] = u
}

func (b *progressBuffer) take() []protocol.ProgressUpdate {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending
	b.pending = map[protocol.TaskKey]protocol.ProgressUpdate{}
	keys := slices.SortedFunc(maps.Keys(p), func(a, b protocol.TaskKey) int {
		if a.Job != b.Job {
			return strings.Compare(string(a.Job), string(b.Job))
		}
		return a.Shard - b.Shard
	})
	out := make([]protocol.ProgressUpdate, len(keys))
	for i, k := range keys {
		out[i] = p[k]
	}
	return out
}

// extended returns a pending deadline for a task's attempt, if any.
func (b *progressBuffer) extended(k protocol.TaskKey, attempt int) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.pending[k]
	return u.Deadline, ok && u.Attempt == attempt
}

func (b *progressBuffer) reset() { b.take() }

// flushProgress commits the buffered progress as one TaskProgress entry
// (flagged IgnoreUnknown: losing progress is harmless to older servers).
func (s *Server) flushProgress(ctx context.Context) {
	ups := s.progress.take()
	if len(ups) == 0 {
		return
	}
	c := protocol.TaskProgress{Updates: ups, At: s.cfg.Clock()}
	if _, err := s.apply(ctx, protocol.CmdTaskProgress|protocol.IgnoreUnknown, c); err != nil {
		s.log.Warn("committing progress", "updates", len(ups), "err", err)
	}
}

// expireLeases fails leases past their deadline — once the leader has
// heard from some node after that deadline: a lease that lapsed while no
// node message arrived at all may be the leader's own link's fault
// (nodelink.go). A new leader first gives every lease one LeaseTTL from its
// election (progress buffered by the old leader was lost with it);
// leaderSince is also moved to the end of an outage of the leader's link
// (nodeLink).
func (s *Server) expireLeases(ctx context.Context, leaderSince time.Time) {
	now, heard := s.cfg.Clock(), s.heardNodes()
	grace := leaderSince.Add(s.cfg.LeaseTTL)
	for _, t := range s.store.LeasedTasks() {
		deadline := t.Deadline
		if d, ok := s.progress.extended(t.TaskKey, t.Attempt); ok && d.After(deadline) {
			deadline = d
		}
		if grace.After(deadline) {
			deadline = grace
		}
		if !now.After(deadline) || !heard.After(deadline) {
			continue // not due, or the leader heard no node since: maybe its own link (nodelink.go)
		}
		if s.nodes.isGone(t.Assignee) { // its etcd key lapsed too: requeueGone's case, no strike
			s.endAttempt(ctx, t, t.Assignee, "node lost", failNoStrike)
			continue
		}
		if leaseStrike(now, leaderSince, s.cfg.LeaseTTL) {
			s.endAttempt(ctx, t, "", "lease expired", failStrike)
			continue
		}
		s.endAttempt(ctx, t, "", "lease expired", failNoFault) // soon after a leader change: the control plane's doing
	}
}

// pruneLeaseLogs forgets old grants (grants.go) and request marks
// (leaseseq.go) — not while the link to the nodes is down or just back:
// the requests NATS held through an outage arrive at its end and must find
// both. A link that keeps failing still has them pruned at a far older
// cutoff, so neither grows without bound.
func (s *Server) pruneLeaseLogs(up bool, since time.Time) {
	now, ttl := s.cfg.Clock(), s.cfg.LeaseTTL
	backstop := now.Add(-maxGrantAgeTTLs * ttl)
	grants, marks := backstop, backstop
	if cutoff, ok := grantCutoff(now, up, since, ttl); ok {
		grants, marks = cutoff, now.Add(-seqMarkTTLs*ttl)
	}
	s.grants.prune(grants)
	s.seqs.prune(marks)
}

// maxGrantAgeTTLs is the backstop of pruneLeaseLogs, in lease TTLs: past
// it, lease expiry (with no strike just after the link is back) has a
// grant whose reply was lost.
const maxGrantAgeTTLs = 4 * seqMarkTTLs

// grantCutoff is before when unconfirmed grants (grants.go) may be
// forgotten: two lease TTLs back, once the leader's link to the nodes
// (nodeLink) has been up that long. A grant whose reply an outage of the
// link swallowed is judged by its node's first request after the outage;
// forgotten during it, the shard would sit leased, unrun, until its lease
// expired (chaos nats-freeze).
func grantCutoff(now time.Time, up bool, since time.Time, ttl time.Duration) (time.Time, bool) {
	if !up || now.Sub(since) < 2*ttl {
		return time.Time{}, false
	}
	return now.Add(-2 * ttl), true
}

// leaseStrikeWindow is how many lease TTLs after its election a leader
// requeues expired leases without a strike against their nodes: in that
// window an expiry may be the control plane's doing (progress lost with the
// old leader, elections under load), and a week-long job must not
// blocklist every node for it (docs/scale.md). A node that really froze
// just then gets one attempt without a strike; later expiries strike.
const leaseStrikeWindow = 3

// leaseStrike reports whether a lease expiring at now counts against its
// node, for a leader elected at leaderSince.
func leaseStrike(now, leaderSince time.Time, ttl time.Duration) bool {
	return now.Sub(leaderSince) > leaseStrikeWindow*ttl
}

// failKind says what an attempt's end counts against.
type failKind int

const (
	failStrike   failKind = iota // a failure on the node: counts, and strikes the node for the job
	failNoStrike                 // counts toward MaxAttempts, no strike (node lost or restarted: maybe the shard's doing)
	failNoFault                  // neither (protocol.CmdTaskRequeue), where every server knows it
	// failNodeFault: the node's own doing (protocol.CmdTaskNodeFault,
	// where every server knows it): strikes the node, does not count.
	failNodeFault
)

// failCommand is the entry that ends an attempt of kind: CmdTaskRequeue
// and CmdTaskNodeFault need every server to know them (features.go);
// until then a failure without a fault is sent as one without a strike,
// and a node's own as a plain failure, both counted.
func (s *Server) failCommand(ctx context.Context, c protocol.TaskFail, kind failKind) (protocol.CommandType, protocol.TaskFail) {
	c.NoStrike = kind == failNoStrike || kind == failNoFault
	switch {
	case kind == failNoFault && s.clusterKnows(ctx, protocol.CmdTaskRequeue):
		return protocol.CmdTaskRequeue, c
	case kind == failNodeFault && s.clusterKnows(ctx, protocol.CmdTaskNodeFault):
		return protocol.CmdTaskNodeFault, c
	}
	return protocol.CmdTaskFail, c
}

// endAttempt commits the end of a task's current attempt without a result.
func (s *Server) endAttempt(ctx context.Context, t protocol.Task, node, reason string, kind failKind) {
	typ, c := s.failCommand(ctx, protocol.TaskFail{TaskKey: t.TaskKey, Attempt: t.Attempt, Node: node, Reason: reason, At: s.cfg.Clock()}, kind)
	_, err := s.apply(ctx, typ, c)
	if err != nil && protocol.CodeOf(err) != protocol.CodeStaleAttempt {
		s.log.Warn("failing task", "job_id", t.Job, "shard", t.Shard, "node_id", t.Assignee, "err", err)
		return
	}
	s.log.Info("task requeued", "job_id", t.Job, "shard", t.Shard, "node_id", t.Assignee, "attempt", t.Attempt, "reason", reason,
		"counted", typ == protocol.CmdTaskFail)
}
