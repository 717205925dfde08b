package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestTelemetryUpdatesNodeView: a heartbeat replaces a live node's GPUs
// when it names the node its subject does, the announced incarnation and
// a newer sample; anything else leaves the view alone.
func TestTelemetryUpdatesNodeView(t *testing.T) {
	started := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	announced := protocol.GPUInfo{Name: "NVIDIA L4", MemoryTotal: 24 << 30, MemoryFree: 24 << 30, SampledAt: started}
	sample := func(free uint64, at time.Time) []protocol.GPUInfo {
		return []protocol.GPUInfo{{Name: "NVIDIA L4", MemoryTotal: 24 << 30, MemoryFree: free, TemperatureC: 60, SampledAt: at}}
	}
	later := started.Add(5 * time.Second)
	for _, c := range []struct {
		name     string
		subject  string
		msg      protocol.NodeTelemetry
		wantFree uint64
	}{
		{"newer sample", protocol.TelemetrySubject("w0"), protocol.NodeTelemetry{Node: "w0", StartedAt: started, At: later, GPUs: sample(4<<30, later)}, 4 << 30},
		{"older sample", protocol.TelemetrySubject("w0"), protocol.NodeTelemetry{Node: "w0", StartedAt: started, At: later, GPUs: sample(4<<30, started.Add(-time.Second))}, 24 << 30},
		{"previous incarnation", protocol.TelemetrySubject("w0"), protocol.NodeTelemetry{Node: "w0", StartedAt: started.Add(-time.Hour), At: later, GPUs: sample(4<<30, later)}, 24 << 30},
		{"another node's subject", protocol.TelemetrySubject("w1"), protocol.NodeTelemetry{Node: "w0", StartedAt: started, At: later, GPUs: sample(4<<30, later)}, 24 << 30},
		{"unknown node", protocol.TelemetrySubject("w9"), protocol.NodeTelemetry{Node: "w9", StartedAt: started, At: later, GPUs: sample(4<<30, later)}, 24 << 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Server{log: slog.New(slog.DiscardHandler), nodes: newNodeView()}
			s.nodes.put("w0", protocol.NodeInfo{ID: "w0", StartedAt: started, GPUs: []protocol.GPUInfo{announced}}, time.Now())
			data, err := json.Marshal(c.msg)
			if err != nil {
				t.Fatal(err)
			}
			s.onTelemetry(&nats.Msg{Subject: c.subject, Data: data})
			nodes := s.nodes.all()
			if len(nodes) != 1 {
				t.Fatalf("view has %d nodes: a heartbeat must not make a node live", len(nodes))
			}
			if got := nodes["w0"].GPUs[0].MemoryFree; got != c.wantFree {
				t.Errorf("w0 free memory %d GiB, want %d GiB", got>>30, c.wantFree>>30)
			}
		})
	}
}

// TestTelemetryReachesEveryVoter: a node's heartbeat on NATS shows in
// /v1/nodes of the leader and of a follower alike.
func TestTelemetryReachesEveryVoter(t *testing.T) {
	c := startCluster(t, 2, nil)
	c.leader(10 * time.Second)
	started := time.Now().UTC().Truncate(time.Second)
	info := protocol.NodeInfo{ID: "w0", Backend: "cuda", StartedAt: started,
		GPUs: []protocol.GPUInfo{{Name: "NVIDIA L4", MemoryTotal: 24 << 30, MemoryFree: 24 << 30, SampledAt: started}}}
	js, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.etcd.Put(ctx, protocol.NodeKey("w0"), string(js)); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, c.natsURL)
	hot := []protocol.GPUInfo{{Name: "NVIDIA L4", MemoryTotal: 24 << 30, MemoryFree: 3 << 30, TemperatureC: 83,
		ThrottleReasons: []string{"sw_thermal"}, SampledAt: started.Add(time.Second)}}
	data, err := json.Marshal(protocol.NodeTelemetry{Node: "w0", StartedAt: started, At: time.Now(), GPUs: hot})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range c.members {
		waitFor(t, 10*time.Second, fmt.Sprintf("voter %d's telemetry", i), func() bool {
			if err := nc.Publish(protocol.TelemetrySubject("w0"), data); err != nil {
				t.Fatal(err)
			}
			for _, n := range m.srv.Nodes() {
				if n.Info.ID == "w0" && len(n.Info.GPUs) == 1 && n.Info.GPUs[0].TemperatureC == 83 {
					return true
				}
			}
			return false
		})
	}
}
