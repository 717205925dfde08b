package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/protocol"
)

// errDraining cancels running tasks when the drain grace period ends.
var errDraining = errors.New("draining")

// Agent is one node: announcement, task loop and slots. Make it with New
// and start it with Run.
type Agent struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	info    protocol.NodeInfo
	changed chan struct{} // announcement must be re-put

	slots     chan int      // indices of free slots
	slotFreed chan struct{} // a task finished
	execs     []Executor

	// holds are the attempts this node runs or still reports, listed in
	// every lease request: a grant missing from it never reached the node
	// (coordinator/grants.go). Guarded by mu.
	holds map[protocol.TaskAttempt]struct{}
	route ctlRoute // the subject of control requests (rpc.go)
	reach reach    // whether the leader answers them (reach.go)
	seq   uint64   // lease requests sent (LeaseRequest.Seq; only loop sends them)
	// sampling: a GPU read is under way (telemetry.go); a wedged driver
	// keeps it so, and no second read piles up behind it.
	sampling atomic.Bool
	// stopLeasing ends the lease loop with a cause (Run sets it before the
	// loop starts): a GPU fault or a hung executor stops the node
	// (restart.go).
	stopLeasing context.CancelCauseFunc
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	a := &Agent{
		cfg: cfg, log: cfg.Logger.With("node_id", cfg.ID),
		info: protocol.NodeInfo{ID: cfg.ID, Host: host, Version: cfg.Version, Backend: cfg.Backend,
			Precision: cfg.Precision, CUDAGraphs: cfg.CUDAGraphs,
			Features: []string{protocol.FeatureJobInputs, protocol.FeatureGuidance, protocol.FeatureGangAddressed}},
		changed: make(chan struct{}, 1), slotFreed: make(chan struct{}, 1),
		holds: map[protocol.TaskAttempt]struct{}{},
	}
	cfg.Metrics.watchGPUs(a.Info)
	return a, nil
}

// ID is the node's id.
func (a *Agent) ID() string { return a.cfg.ID }

// Info returns the node's current announcement.
func (a *Agent) Info() protocol.NodeInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	info := a.info
	info.GPUs = slices.Clone(info.GPUs)
	info.Models = slices.Clone(info.Models)
	info.Features = slices.Clone(info.Features)
	return info
}

func (a *Agent) update(f func(*protocol.NodeInfo)) {
	a.mu.Lock()
	f(&a.info)
	a.mu.Unlock()
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// Run announces the node, pulls and runs tasks until ctx ends, then
// drains: running tasks get DrainTimeout to finish and report; the rest
// are cancelled and handed back ("draining"). Finally the announcement is
// revoked. Run returns nil after a clean drain.
func (a *Agent) Run(ctx context.Context) error {
	ctx = a.cfg.Metrics.withRetries(ctx) // S3 and Hub clients under the tasks count retries
	if err := a.setup(ctx); err != nil {
		return err
	}
	annCtx, stopAnnounce := context.WithCancel(context.WithoutCancel(ctx))
	announced := make(chan error, 1)
	go func() { announced <- a.cfg.Announcer.Announce(annCtx, a.Info, a.changed) }()
	var telemetry sync.WaitGroup
	telemetry.Go(func() { a.sendTelemetry(annCtx) })
	defer func() {
		stopAnnounce()
		telemetry.Wait()
		if err := <-announced; err != nil {
			a.log.Warn("node announcement", "err", err)
		}
	}()

	execCtx, stopExec := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopExec(nil)
	leaseCtx, stopLeasing := context.WithCancelCause(ctx)
	defer stopLeasing(nil)
	a.stopLeasing = stopLeasing
	var tasks sync.WaitGroup
	a.loop(leaseCtx, execCtx, &tasks)
	cause := context.Cause(leaseCtx)
	restart := errors.Is(cause, errMustRestart)
	if restart {
		a.update(func(info *protocol.NodeInfo) { info.DrainReason = cause.Error() })
	}
	a.drain(execCtx, stopExec, &tasks)
	if restart {
		return cause // exit non-zero: the service manager restarts the node (restart.go)
	}
	return nil
}

// setup reads the GPU inventory and sizes the slots.
func (a *Agent) setup(ctx context.Context) error {
	gpus, err := a.cfg.GPUs.GPUs(ctx)
	if err != nil {
		a.log.Warn("reading GPU inventory; announcing no GPUs", "err", err)
		gpus = nil
	}
	n := a.cfg.Slots
	switch {
	case len(a.cfg.Executors) > 0:
		n = len(a.cfg.Executors)
		a.execs = a.cfg.Executors
	case n <= 0 && a.cfg.Backend != "cpu":
		n = max(len(gpus), 1)
	case n <= 0:
		n = 1
	}
	for len(a.execs) < n {
		a.execs = append(a.execs, a.cfg.Executor)
	}
	a.slots = make(chan int, n)
	for i := range n {
		a.slots <- i
	}
	a.update(func(info *protocol.NodeInfo) {
		info.GPUs, info.Slots, info.StartedAt = gpus, n, time.Now().UTC()
	})
	a.log.Info("node starting", "slots", n, "gpus", len(gpus), "backend", a.cfg.Backend)
	return nil
}

// loop leases tasks while ctx lives and a slot is free.
func (a *Agent) loop(ctx, execCtx context.Context, tasks *sync.WaitGroup) {
	b := newBackoff(a.cfg.PollInterval/4+time.Millisecond, a.cfg.MaxBackoff)
	for ctx.Err() == nil {
		free := len(a.slots)
		if free == 0 {
			select {
			case <-ctx.Done():
			case <-a.slotFreed:
			}
			continue
		}
		reply, err := a.lease(ctx, free)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Debug("leasing tasks", "err", err)
				b.Wait(ctx)
			}
			continue
		}
		b.Reset()
		for _, asg := range reply.Assignments {
			if err := asg.Check(); err != nil {
				a.refuse(ctx, asg, err)
				continue
			}
			a.start(execCtx, asg, tasks)
		}
		if reply.Pending {
			// A gang this node joined is forming: ask again. The leader
			// holds each request a while, but answers at once when the
			// request's context ends or GangHold is 0: the pause keeps
			// that from becoming a tight request loop.
			backoff.Sleep(ctx, pendingRetryDelay)
			continue
		}
		if len(reply.Assignments) < free {
			backoff.Sleep(ctx, a.cfg.PollInterval)
		}
	}
}

// pendingRetryDelay is the pause before asking again after a Pending
// lease reply (a gang still forming).
const pendingRetryDelay = 100 * time.Millisecond

// refuse reports an assignment that failed its check as a failed attempt
// naming the problem, without running it or giving it a slot: a faulty or
// hostile leader's grant must not size the node's buffers or crash it
// (protocol.Assignment.Check). The report is sent before the next lease
// request (which does not list the attempt in its holds), so the leader
// ends the attempt instead of taking the grant for a lost reply and
// sending it again (coordinator/grants.go); it is tried for at most
// RequestTimeout, since the attempt's lease expires at the leader anyway.
func (a *Agent) refuse(ctx context.Context, asg protocol.Assignment, err error) {
	a.log.Error("refusing an invalid assignment", "job_id", protocol.Clip(string(asg.Task.Job), 80),
		"shard", asg.Task.Shard, "attempt", asg.Task.Attempt, "err", err)
	a.complete(ctx, asg, time.Now(), failed(protocol.ReasonRefused+": "+err.Error()), nil)
}

// lease asks the leader for up to free tasks.
func (a *Agent) lease(ctx context.Context, free int) (protocol.LeaseReply, error) {
	var reply protocol.LeaseReply
	a.seq++
	req := protocol.LeaseRequest{Node: a.Info(), Free: free, Gang: !a.cfg.NoGang, Seq: a.seq, Holds: a.held()}
	if err := a.request(ctx, protocol.SubjectLease, req, &reply, func() *protocol.Error { return reply.Error }); err != nil {
		return protocol.LeaseReply{}, fmt.Errorf("leasing tasks: %w", err)
	}
	for i := range reply.Assignments { // on the node's clock from here on
		reply.Assignments[i].Deadline = leaseDeadline(reply.Assignments[i].Deadline, reply.Now)
	}
	return reply, nil
}

// start runs asg in a free slot, or hands it back when none is free (a
// leader that sent more than asked).
func (a *Agent) start(ctx context.Context, asg protocol.Assignment, tasks *sync.WaitGroup) {
	var slot int
	select {
	case slot = <-a.slots:
	default:
		a.log.Warn("leader sent more tasks than free slots; handing one back", "job_id", asg.Task.Job, "shard", asg.Task.Shard)
		tasks.Go(func() { a.complete(ctx, asg, asg.Deadline, failed(protocol.ReasonNoSlot), nil) })
		return
	}
	a.hold(asg, true) // before the next lease request is built (loop is sequential)
	tasks.Go(func() {
		defer func() {
			a.hold(asg, false)
			a.slots <- slot
			select {
			case a.slotFreed <- struct{}{}:
			default:
			}
		}()
		a.runTask(ctx, a.execs[slot], asg)
	})
}

// hold adds (on) or removes an assignment's attempt from the holds.
func (a *Agent) hold(asg protocol.Assignment, on bool) {
	k := protocol.TaskAttempt{TaskKey: asg.Task.TaskKey, Attempt: asg.Task.Attempt}
	a.mu.Lock()
	defer a.mu.Unlock()
	if on {
		a.holds[k] = struct{}{}
	} else {
		delete(a.holds, k)
	}
}

// held lists the holds (at most the slots, so within the request's bound).
func (a *Agent) held() []protocol.TaskAttempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]protocol.TaskAttempt, 0, len(a.holds))
	for k := range a.holds {
		out = append(out, k)
	}
	return out
}

// drain marks the node draining, waits DrainTimeout for running tasks,
// then cancels them (they hand their shards back) and waits again.
func (a *Agent) drain(execCtx context.Context, stop context.CancelCauseFunc, tasks *sync.WaitGroup) {
	a.update(func(info *protocol.NodeInfo) { info.Draining = true })
	busy := cap(a.slots) - len(a.slots)
	a.log.Info("node draining", "running", busy, "grace", a.cfg.DrainTimeout)
	done := make(chan struct{})
	go func() { tasks.Wait(); close(done) }()
	t := time.NewTimer(a.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	a.log.Warn("drain grace period over; handing running shards back")
	stop(errDraining)
	t.Reset(a.cfg.HandBackTimeout)
	select {
	case <-done:
	case <-t.C:
		// An executor that ignores its cancel (a hung GPU kernel) would keep
		// the node from ever exiting; once the announcement is revoked the
		// leader requeues its shards as a lost node's (no strike).
		a.log.Error("running shards did not stop after being handed back (a hung executor?); exiting without them",
			"waited", a.cfg.HandBackTimeout, "running", cap(a.slots)-len(a.slots))
	}
}
