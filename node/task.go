package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanafarm/sanafarm/internal/mono"
	"github.com/sanafarm/sanafarm/protocol"
)

// errStale cancels a task whose attempt the leader no longer accepts.
var errStale = errors.New("attempt is stale: the task belongs to another attempt now")

// errStalled cancels a task that finished no image for StallTimeout.
var errStalled = errors.New("stalled: no image finished within the node's --stall-timeout (a hung GPU or driver?)")

// DefaultStallTimeout is Config.StallTimeout's default: far above one
// batch of the largest images and above the default store patience.
const DefaultStallTimeout = 30 * time.Minute

// runTask executes one assignment with a progress reporter and reports
// its completion (or failure) unless the attempt became stale.
func (a *Agent) runTask(ctx context.Context, exec Executor, asg protocol.Assignment) {
	log := a.log.With("job_id", asg.Task.Job, "shard", asg.Task.Shard, "attempt", asg.Task.Attempt)
	if asg.Ranks > 1 {
		log = log.With("rank", asg.Rank, "group", asg.Group)
	}
	tctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	rep := newReporter(a, asg, abort)
	go rep.run(tctx)
	// The heartbeat goes on until the outcome is reported: a completion
	// retried through an outage (CompletionPatience) keeps the lease alive
	// once the leader hears it again, so the finished shard is not
	// re-leased while its completion waits out a backoff.
	defer rep.stop()
	log.Info("task started", "samples", asg.Task.End-asg.Task.Start)
	start := time.Now()
	info, err := a.execute(tctx, exec, asg, rep.set)
	close(rep.returned)
	a.refreshModels(exec)
	cause := context.Cause(tctx)
	switch {
	case errors.Is(cause, errStale):
		log.Warn("task aborted", "err", cause)
		a.discard(ctx, exec, asg)
		return
	case err == nil && asg.Rank > 0:
		log.Info("rank done; rank 0 reports the shard", "seconds", time.Since(start).Seconds())
	case err == nil:
		info.Node = a.cfg.ID
		log.Info("task done", "images", info.Images, "seconds", time.Since(start).Seconds())
		switch a.complete(ctx, asg, rep.deadline(), ending{info: &info}, a.outcomeCheck(exec, asg)) {
		case completionAccepted:
			a.publish(ctx, exec, asg, info)
		case completionRefused:
			a.discard(ctx, exec, asg)
		default:
			// The leader may have accepted it (it then publishes the
			// staging itself before the job's manifest): the staging
			// goes only once the shard's outcome is visible.
			a.settle(ctx, exec, asg)
		}
	case errors.Is(cause, errStalled):
		log.Error("task stalled: given up, its heartbeat stopped (the leader requeues it)", "stall_timeout", a.cfg.StallTimeout,
			"images_done", rep.done.Load())
		a.complete(ctx, asg, rep.deadline(), failed(fmt.Sprintf("%v (%v)", errStalled, a.cfg.StallTimeout)), nil)
		a.discard(ctx, exec, asg)
	case errors.Is(cause, errDraining):
		log.Warn("task handed back", "reason", "draining")
		a.complete(ctx, asg, rep.deadline(), failed(protocol.ReasonDraining), nil)
		a.discard(ctx, exec, asg)
	default:
		own := ownFault(err)
		a.checkGPUFault(log, err) // restart.go
		log.Error("task failed", "err", err, "node_fault", own)
		a.complete(ctx, asg, rep.deadline(), ending{reason: err.Error(), nodeFault: own}, nil)
		a.discard(ctx, exec, asg)
	}
}

// Publisher is implemented by executors that stage a shard's objects
// under its attempt (storage.AttemptPrefix) instead of writing the final
// keys: the agent calls Publish once the leader has accepted the
// attempt's completion, Discard when the attempt can never be accepted
// (refused as stale, failed, handed back), and Settle when the
// completion got no answer (the staging goes once the shard's outcome is
// visible). Settled says whether that outcome is visible yet: a
// completion retried through an outage stops once it is.
type Publisher interface {
	Publish(ctx context.Context, a protocol.Assignment, info protocol.ShardInfo) error
	Discard(ctx context.Context, a protocol.Assignment) error
	Settle(ctx context.Context, a protocol.Assignment) error
	Settled(ctx context.Context, a protocol.Assignment) (bool, error)
}

// publishTimeout bounds publishing or discarding one attempt's staging;
// it runs even while the node drains (the leader covers a node that dies
// meanwhile).
const publishTimeout = 2 * time.Minute

// publish makes an accepted attempt's objects visible.
func (a *Agent) publish(ctx context.Context, exec Executor, asg protocol.Assignment, info protocol.ShardInfo) {
	p, ok := exec.(Publisher)
	if !ok {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	start := time.Now()
	if err := p.Publish(pctx, asg, info); err != nil {
		a.log.Warn("publishing the accepted shard; the leader publishes it before the manifest", "job_id", asg.Task.Job,
			"shard", asg.Task.Shard, "attempt", asg.Task.Attempt, "err", err)
		return
	}
	a.log.Debug("shard published", "job_id", asg.Task.Job, "shard", asg.Task.Shard, "attempt", asg.Task.Attempt,
		"seconds", time.Since(start).Seconds())
}

// settle deletes the staging of an unanswered completion once the
// shard's outcome is visible.
func (a *Agent) settle(ctx context.Context, exec Executor, asg protocol.Assignment) {
	p, ok := exec.(Publisher)
	if !ok {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := p.Settle(pctx, asg); err != nil {
		a.log.Warn("checking an unanswered attempt's outcome", "job_id", asg.Task.Job, "shard", asg.Task.Shard,
			"attempt", asg.Task.Attempt, "err", err)
	}
}

// discard deletes the staging of an attempt that will never be published.
func (a *Agent) discard(ctx context.Context, exec Executor, asg protocol.Assignment) {
	p, ok := exec.(Publisher)
	if !ok {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := p.Discard(pctx, asg); err != nil {
		a.log.Warn("deleting the staging of a refused attempt", "job_id", asg.Task.Job, "shard", asg.Task.Shard,
			"attempt", asg.Task.Attempt, "err", err)
	}
}

// execute runs the executor; a gang assignment's rank first joins its
// group, whose transport travels in the context (WithGroup).
func (a *Agent) execute(ctx context.Context, exec Executor, asg protocol.Assignment, progress func(int)) (protocol.ShardInfo, error) {
	if asg.Ranks <= 1 {
		return exec.Execute(ctx, asg, progress)
	}
	t, err := a.joinGroup(ctx, asg)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	defer t.Close()
	return exec.Execute(WithGroup(ctx, t), asg, progress)
}

// refreshModels re-announces the resident models when they changed.
func (a *Agent) refreshModels(exec Executor) {
	ml, ok := exec.(ModelLister)
	if !ok {
		return
	}
	models := ml.Models()
	if slices.Equal(models, a.Info().Models) {
		return
	}
	a.update(func(info *protocol.NodeInfo) { info.Models = models })
}

// completion is what became of a CompleteReport.
type completion int

const (
	completionUnknown  completion = iota // no answer before the deadline, or an error
	completionAccepted                   // the leader applied it (or had already)
	completionRefused                    // the attempt is not current (fenced)
)

// complete sends the CompleteReport, retrying retryable failures (the
// leader may be failing over) until the lease deadline passes — for a
// finished shard (end.info set) up to Config.CompletionPatience past it, or
// until settled (if set) says the shard's outcome is visible in its
// output: another attempt won, or the leader published this one.
func (a *Agent) complete(ctx context.Context, asg protocol.Assignment, deadline time.Time, end ending,
	settled func(context.Context) bool) completion {
	log := a.log.With("job_id", asg.Task.Job, "shard", asg.Task.Shard, "attempt", asg.Task.Attempt)
	info := end.info
	rep := protocol.CompleteReport{TaskKey: asg.Task.TaskKey, Node: a.cfg.ID, Attempt: asg.Task.Attempt, Result: info,
		Error: protocol.ClipReason(end.reason), StartedAt: a.Info().StartedAt, NodeFault: end.nodeFault && info == nil}
	giveUp := later(deadline, time.Now().Add(a.cfg.RequestTimeout))
	patience := giveUp
	if info != nil { // finished work: worth waiting out an outage for
		patience = later(giveUp, time.Now().Add(a.cfg.CompletionPatience))
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), patience)
	defer cancel()
	b := newBackoff(100*time.Millisecond, a.cfg.MaxBackoff)
	for {
		var ack protocol.Ack
		err := a.request(cctx, protocol.SubjectComplete, rep, &ack, func() *protocol.Error { return ack.Error })
		switch {
		case err == nil:
			return completionAccepted
		case fenced(err):
			log.Warn("completion rejected: attempt is stale", "err", err)
			return completionRefused
		case !retryable(err):
			log.Error("completion rejected", "err", err)
			return completionUnknown
		}
		log.Debug("sending task completion; retrying", "err", err)
		past := time.Now().After(giveUp)
		if past && settled != nil && settled(cctx) {
			log.Warn("giving up on task completion: the shard's outcome is already in its output", "err", err)
			return completionUnknown
		}
		if (past && ctx.Err() != nil) || !b.Wait(cctx) { // draining: no patience
			log.Error("giving up on task completion after the lease deadline", "err", err)
			return completionUnknown
		}
	}
}

// outcomeCheck is complete's settled check for exec, nil when exec is no
// Publisher.
func (a *Agent) outcomeCheck(exec Executor, asg protocol.Assignment) func(context.Context) bool {
	p, ok := exec.(Publisher)
	if !ok {
		return nil
	}
	return func(ctx context.Context) bool {
		done, err := p.Settled(ctx, asg)
		return err == nil && done
	}
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// reporter sends a task's progress: every ProgressInterval (a heartbeat
// that extends the lease) and after each image, at most every
// ProgressMinGap. A fenced reply aborts the task.
type reporter struct {
	a     *Agent
	asg   protocol.Assignment
	abort context.CancelCauseFunc
	done  atomic.Int64
	// moved is when done last grew, or the executor's first progress
	// call (a mono stamp of clock; 0: not armed yet): the stall
	// watchdog's clock, monotonic so a stepped wall clock is no stall.
	moved    atomic.Int64
	clock    mono.Clock
	notify   chan struct{}
	quit     chan struct{}
	exited   chan struct{}
	returned chan struct{} // the executor returned (restart.go watches a stalled one)

	mu   sync.Mutex
	dead time.Time
}

// maxLeaseAhead bounds a lease deadline the node takes from a grant or an
// ack: the deadline bounds how long a completion is retried, and one far
// in the future (a bug, a skewed clock) would have it retried for ever.
const maxLeaseAhead = time.Hour

// leaseDeadline is the leader's deadline d on the node's clock, at most
// maxLeaseAhead from now. With the leader's clock at its answer
// (leaderNow, protocol.LeaseReply.Now) it is d-leaderNow from now, read
// on the monotonic clock: a node clock far ahead of the leader's (or one
// stepped meanwhile) neither sees a live lease as past — and gives up
// retrying a completion at once — nor the reverse. Without it (an older
// leader) d is taken as a wall time.
func leaseDeadline(d, leaderNow time.Time) time.Time {
	now := time.Now()
	if !leaderNow.IsZero() {
		d = now.Add(d.Sub(leaderNow))
	}
	if limit := now.Add(maxLeaseAhead); d.After(limit) {
		return limit
	}
	return d
}

func newReporter(a *Agent, asg protocol.Assignment, abort context.CancelCauseFunc) *reporter {
	return &reporter{a: a, asg: asg, abort: abort, dead: asg.Deadline, clock: mono.New(),
		notify: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{}), returned: make(chan struct{})}
}

// set records images done (the Executor's progress callback). A first
// call, even with 0 (the executor's model has resolved), arms the stall
// watchdog: a model download before it has its own stall guards.
func (r *reporter) set(done int) {
	if prev := r.done.Swap(int64(done)); int64(done) > prev || r.moved.Load() == 0 {
		r.moved.Store(r.clock.Now())
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *reporter) deadline() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dead
}

func (r *reporter) stop() {
	close(r.quit)
	<-r.exited
}

func (r *reporter) run(ctx context.Context) {
	defer close(r.exited)
	tick := time.NewTicker(r.a.cfg.ProgressInterval)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.quit:
			return
		case <-tick.C:
			if r.stalled() {
				r.abort(errStalled) // and no more heartbeats: the lease expires even if the executor never returns
				r.watchHung()
				return
			}
		case <-r.notify:
			if time.Since(last) < r.a.cfg.ProgressMinGap {
				continue // the next tick or image reports it
			}
		}
		last = time.Now()
		r.send(ctx)
	}
}

// stalled reports whether the armed watchdog saw no image for
// StallTimeout while images are left (after the last one, only uploads
// run, and they have the store's patience).
func (r *reporter) stalled() bool {
	moved, limit := r.moved.Load(), r.a.cfg.StallTimeout
	left := r.done.Load() < r.asg.Task.End-r.asg.Task.Start
	return moved != 0 && limit > 0 && left && r.clock.Since(moved) > limit
}

func (r *reporter) send(ctx context.Context) {
	var ack protocol.Ack
	rep := protocol.ProgressReport{TaskKey: r.asg.Task.TaskKey, Node: r.a.cfg.ID, Attempt: r.asg.Task.Attempt, Done: int(r.done.Load())}
	err := r.a.request(ctx, protocol.SubjectProgress, rep, &ack, func() *protocol.Error { return ack.Error })
	switch {
	case err == nil:
		if !ack.Deadline.IsZero() {
			r.mu.Lock()
			r.dead = leaseDeadline(ack.Deadline, ack.Now)
			r.mu.Unlock()
		}
	case fenced(err):
		r.abort(errStale)
	default:
		r.a.log.Debug("sending task progress", "job_id", r.asg.Task.Job, "shard", r.asg.Task.Shard, "err", err)
	}
}
