package node

import (
	"context"
	"encoding/json"
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
func (a *Agent) sampleGPUs(ctx context.Context) error {
	gpus, err := a.cfg.GPUs.GPUs(ctx)
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
