package coordinator

import (
	"context"
	"errors"
	"slices"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// GPU telemetry: nodes publish protocol.NodeTelemetry every few seconds on
// protocol.TelemetrySubject(id) (NATS, not etcd: docs/architecture.md, GPU
// telemetry). Every coordinator, leader or not, subscribes and writes the
// GPUs into its node view, so /v1/nodes (`sanafarm nodes`) shows current
// memory, utilisation, temperature, power, clocks, throttling and ECC
// errors on any voter. The leader's scheduler needs no part of it: each
// lease request carries the node's latest sample.

// receiveTelemetry subscribes until ctx ends.
func (s *Server) receiveTelemetry(ctx context.Context) {
	sub, err := s.cfg.NATS.Subscribe(protocol.SubjectTelemetryPrefix+">", s.onTelemetry)
	if err != nil {
		s.log.Warn("subscribing to node telemetry; /v1/nodes shows the GPUs as announced", "err", err)
		return
	}
	<-ctx.Done()
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Debug("unsubscribing from node telemetry", "err", err)
	}
}

func (s *Server) onTelemetry(m *nats.Msg) {
	t, err := protocol.DecodeNodeTelemetry(m.Data) // bounded: any node can publish here
	if err != nil {
		s.log.Debug("bad node telemetry", "subject", m.Subject, "err", err)
		return
	}
	// A node on the shared NATS user may publish on any node's subject:
	// the message must name the node its subject does.
	if m.Subject != protocol.TelemetrySubject(t.Node) {
		s.log.Debug("node telemetry on another node's subject", "subject", m.Subject, "node_id", t.Node)
		return
	}
	s.nodes.setGPUs(t)
}

// setGPUs stores a live node's sampled GPUs: only for a node the etcd
// watch knows (a heartbeat never makes a node live), of the announced
// incarnation, and newer than what the view holds.
func (v *nodeView) setGPUs(t protocol.NodeTelemetry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n, ok := v.nodes[t.Node]
	if !ok || !t.StartedAt.Equal(n.StartedAt) || !newerSample(t.GPUs, n.GPUs) {
		return
	}
	n.GPUs = slices.Clone(t.GPUs)
	v.nodes[t.Node] = n
}

// newerSample reports whether sample a was taken after b (by the first
// GPU's SampledAt; an unstamped b is older than anything).
func newerSample(a, b []protocol.GPUInfo) bool {
	if len(a) == 0 {
		return false
	}
	return len(b) == 0 || a[0].SampledAt.After(b[0].SampledAt)
}
