package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
)

// Some faults leave a node that can do no more work in this process: a
// CUDA error that broke the GPU context (every later op fails alike), or
// an executor that does not return once cancelled (a kernel or driver
// call that never ends holds its GPU, and its slot, for good). Such a node
// leases nothing more, lets its other slots' shards end (the drain), and
// Run returns errMustRestart, so the process exits non-zero and its
// service manager (deploy/systemd/sanafarm-node.service) starts it again
// with a fresh context; a GPU that stays broken fails again and is
// drained by the leader (docs/architecture.md, "The node's own fault").

// errMustRestart is the cause of a lease loop stopped for good.
var errMustRestart = errors.New("the node must restart")

// errExecutorHung is why a node whose executor ignored a stall's cancel
// restarts.
var errExecutorHung = errors.New("the executor did not return after its stalled shard was cancelled (a hung GPU kernel or driver call)")

// mustRestart stops the lease loop: Run drains and returns why.
func (a *Agent) mustRestart(why error) {
	a.stopLeasing(fmt.Errorf("%w: %w", errMustRestart, why))
}

// checkGPUFault stops the node after a task error that broke its GPU.
func (a *Agent) checkGPUFault(log *slog.Logger, err error) {
	if !errors.Is(err, kernels.ErrDeviceFault) {
		return
	}
	log.Error("GPU fault: the node stops taking work and exits once its other shards end", "err", err)
	a.mustRestart(err)
}

// hungGrace is how long a stalled shard's executor has to return once
// cancelled before the node counts it hung: a quarter of --stall-timeout
// (an executor checks its context between denoising steps and images).
func (a *Agent) hungGrace() time.Duration { return a.cfg.StallTimeout / 4 }

// watchHung waits, after the stall watchdog cancelled the shard, for the
// executor to return (returned closes), and stops the node if it does not
// within hungGrace.
func (r *reporter) watchHung() {
	t := time.NewTimer(r.a.hungGrace())
	defer t.Stop()
	select {
	case <-r.returned:
	case <-r.quit:
	case <-t.C:
		r.a.log.Error("stalled shard's executor did not return after its cancel: the node stops taking work and exits",
			"job_id", r.asg.Task.Job, "shard", r.asg.Task.Shard, "waited", r.a.hungGrace())
		r.a.mustRestart(errExecutorHung)
	}
}
