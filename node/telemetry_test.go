package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// countingAnnouncer counts the etcd re-puts an agent asks for.
type countingAnnouncer struct{ puts atomic.Int32 }

func (c *countingAnnouncer) Announce(ctx context.Context, _ func() protocol.NodeInfo, changed <-chan struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			c.puts.Add(1)
		}
	}
}

// samplingGPUs reports one GPU whose free memory drops by 1 GiB a sample
// (down to 4 GiB).
type samplingGPUs struct{ n atomic.Int64 }

func (s *samplingGPUs) GPUs(context.Context) ([]protocol.GPUInfo, error) {
	n := s.n.Add(1)
	return []protocol.GPUInfo{{Index: 0, Name: "NVIDIA L4", UUID: "GPU-1", MemoryTotal: 24 << 30,
		MemoryFree: uint64(24-min(n, 20)) << 30, SampledAt: time.Now().UTC()}}, nil
}

// telemetryOf receives node id's telemetry until the test ends (a full
// buffer drops messages rather than blocking the NATS client).
func telemetryOf(t *testing.T, nc *nats.Conn, id string) <-chan protocol.NodeTelemetry {
	t.Helper()
	msgs := make(chan protocol.NodeTelemetry, 256)
	sub, err := nc.Subscribe(protocol.TelemetrySubject(id), func(m *nats.Msg) {
		if tm, err := protocol.DecodeNodeTelemetry(m.Data); err == nil {
			select {
			case msgs <- tm:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return msgs
}

type idleExecutor struct{}

func (idleExecutor) Execute(ctx context.Context, _ protocol.Assignment, _ func(int)) (protocol.ShardInfo, error) {
	<-ctx.Done()
	return protocol.ShardInfo{}, ctx.Err()
}

// TestAgentSendsGPUTelemetry: a GPU node samples its GPUs every
// TelemetryInterval, publishes each sample on its telemetry subject and
// keeps its info (which lease requests carry) current, without re-putting
// its etcd announcement; a CPU node sends nothing.
func TestAgentSendsGPUTelemetry(t *testing.T) {
	for _, c := range []struct {
		name     string
		gpus     GPUInspector
		interval time.Duration
		wantMsgs bool
	}{
		{"gpu node", &samplingGPUs{}, 20 * time.Millisecond, true},
		{"cpu node", NoGPUs{}, 20 * time.Millisecond, false},
		{"telemetry off", &samplingGPUs{}, -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			nc := startNATS(t)
			ann := &countingAnnouncer{}
			msgs := telemetryOf(t, nc, "gpu-1")
			n := startAgent(t, Config{ID: "gpu-1", NATS: nc, Announcer: ann, Executor: idleExecutor{}, Backend: "cuda",
				GPUs: c.gpus, TelemetryInterval: c.interval, PollInterval: time.Hour, RequestTimeout: 50 * time.Millisecond,
				Logger: testLogger(t)})
			if !c.wantMsgs {
				select {
				case m := <-msgs:
					t.Fatalf("got telemetry %+v", m)
				case <-time.After(200 * time.Millisecond):
				}
				return
			}
			var last protocol.NodeTelemetry
			for range 4 {
				select {
				case last = <-msgs:
				case <-time.After(5 * time.Second):
					t.Fatal("no telemetry")
				}
			}
			if last.Node != "gpu-1" || len(last.GPUs) != 1 || last.GPUs[0].MemoryFree >= 23<<30 || last.StartedAt.IsZero() {
				t.Errorf("telemetry %+v: want gpu-1's later samples with its incarnation", last)
			}
			if got := n.agent.Info().GPUs; len(got) != 1 || got[0].MemoryFree > last.GPUs[0].MemoryFree {
				t.Errorf("node info GPUs %+v: want the sample sent or a later one", got)
			}
			if p := ann.puts.Load(); p > 1 {
				t.Errorf("%d etcd re-puts: telemetry must not re-put the announcement", p)
			}
		})
	}
}

// wedgedGPUs answers its first read (the node's start), then blocks every
// later one until released, as NVML does under a wedged driver.
type wedgedGPUs struct {
	calls   atomic.Int32
	release chan struct{}
}

func (w *wedgedGPUs) GPUs(context.Context) ([]protocol.GPUInfo, error) {
	if w.calls.Add(1) > 1 {
		<-w.release
	}
	return []protocol.GPUInfo{{Index: 0, Name: "NVIDIA H100", UUID: "GPU-1", MemoryTotal: 80 << 30}}, nil
}

// TestAgentTelemetryWedgedDriver: a GPU read that never returns neither
// stops telemetry (the last sample goes on being sent), nor piles up
// reads behind it, nor keeps the node from shutting down.
func TestAgentTelemetryWedgedDriver(t *testing.T) {
	nc := startNATS(t)
	gpus := &wedgedGPUs{release: make(chan struct{})}
	defer close(gpus.release)
	msgs := telemetryOf(t, nc, "gpu-w")
	n := startAgent(t, Config{ID: "gpu-w", NATS: nc, Announcer: &countingAnnouncer{}, Executor: idleExecutor{}, Backend: "cuda",
		GPUs: gpus, TelemetryInterval: 20 * time.Millisecond, PollInterval: time.Hour, RequestTimeout: 50 * time.Millisecond,
		Logger: testLogger(t)})
	deadline := time.After(10 * time.Second)
	for got := 0; got < 4; { // the first, then one per timed-out read (1 s each)
		select {
		case m := <-msgs:
			if len(m.GPUs) != 1 {
				t.Fatalf("telemetry %+v: want the last sample", m)
			}
			got++
		case <-deadline:
			t.Fatalf("telemetry stopped after %d messages while a GPU read hung", got)
		}
	}
	if c := gpus.calls.Load(); c != 2 {
		t.Errorf("%d GPU reads: want the start's and one hung read, no pile-up", c)
	}
	n.stop(t) // fails the test if Run does not return
}
