package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// GPU telemetry: every Config.TelemetryInterval the agent samples its GPUs,
// keeps the announcement's GPUs current (so each lease request carries the
// real free memory the scheduler fits models by) and publishes a
// protocol.NodeTelemetry heartbeat on protocol.TelemetrySubject(id) to
// every coordinator. The etcd announcement is not re-put for it: at 1,000
// nodes every 5 s that would be 200 Raft-replicated, fsynced etcd writes
// a second, each kept as a revision until compaction and fanned out to
// every coordinator's watch, against 200 in-memory NATS messages a second
// (docs/architecture.md, GPU telemetry).

// sendTelemetry samples and publishes until ctx ends. A node without GPUs
// (a CPU node, or no NVML) sends nothing.
func (a *Agent) sendTelemetry(ctx context.Context) {
	if a.cfg.TelemetryInterval < 0 || len(a.Info().GPUs) == 0 {
		return
	}
	t := time.NewTicker(a.cfg.TelemetryInterval)
	defer t.Stop()
	for {
		if err := a.publishTelemetry(a.Info()); err != nil {
			a.log.Debug("sending GPU telemetry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.sampleGPUs(ctx); err != nil {
			a.log.Debug("sampling GPUs; keeping the last sample", "err", err)
		}
	}
}

// sampleGPUs reads the GPUs and stores them in the node's info without
// re-announcing it in etcd (see above). An inspector that suddenly lists
// none (NVML lost) keeps the last sample rather than turning a GPU node
// into a CPU node in the scheduler's eyes.
//
// NVML calls take no context, and a wedged driver (the GPU fell off the
// bus, a hung kernel) can block them for ever: the read runs apart, is
// waited for at most gpuReadTimeout, and is not started again while one
// is still under way, so neither telemetry nor the node's shutdown (which
// waits for this loop) hangs with it.
func (a *Agent) sampleGPUs(ctx context.Context) error {
	if !a.sampling.CompareAndSwap(false, true) {
		return errGPUReadHung
	}
	type read struct {
		gpus []protocol.GPUInfo
		err  error
	}
	done := make(chan read, 1)
	go func() {
		defer a.sampling.Store(false)
		gpus, err := a.cfg.GPUs.GPUs(ctx)
		done <- read{gpus, err}
	}()
	timeout := a.gpuReadTimeout()
	var r read
	select {
	case r = <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		a.log.Error("reading the GPUs did not return: the driver may hang (telemetry keeps the last sample)", "waited", timeout)
		return fmt.Errorf("reading the GPUs: no answer within %v", timeout)
	}
	gpus, err := r.gpus, r.err
	switch {
	case err != nil:
		return err
	case len(gpus) == 0:
		return fmt.Errorf("the GPU inspector listed no GPUs")
	}
	a.mu.Lock()
	a.info.GPUs = gpus
	a.mu.Unlock()
	return nil
}

// errGPUReadHung: the previous GPU read has not returned.
var errGPUReadHung = errors.New("the previous GPU read has not returned (the driver may hang)")

// gpuReadTimeout is how long one GPU read is waited for: two telemetry
// intervals, between 1 s and 30 s (NVML answers in milliseconds).
func (a *Agent) gpuReadTimeout() time.Duration {
	return min(max(2*a.cfg.TelemetryInterval, time.Second), 30*time.Second)
}

// publishTelemetry sends info's GPUs (fire and forget: a lost heartbeat is
// replaced by the next one).
func (a *Agent) publishTelemetry(info protocol.NodeInfo) error {
	msg := protocol.NodeTelemetry{Node: info.ID, StartedAt: info.StartedAt, At: time.Now().UTC(), GPUs: slices.Clone(info.GPUs)}
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding telemetry of node %s: %w", info.ID, err)
	}
	if err := a.cfg.NATS.Publish(protocol.TelemetrySubject(info.ID), data); err != nil {
		return fmt.Errorf("publishing telemetry of node %s on %s: %w", info.ID, protocol.TelemetrySubject(info.ID), err)
	}
	return nil
}
