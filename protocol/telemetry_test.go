package protocol

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGPUInfoBackwardCompatible: an announcement of an earlier release
// (inventory only) decodes, and a GPU without telemetry encodes as before.
func TestGPUInfoBackwardCompatible(t *testing.T) {
	old := `{"index":1,"name":"NVIDIA L4","uuid":"GPU-1","memory_total":25769803776,"memory_free":25000000000,"utilization":3}`
	var g GPUInfo
	if err := json.Unmarshal([]byte(old), &g); err != nil {
		t.Fatal(err)
	}
	if g.Index != 1 || g.Name != "NVIDIA L4" || g.MemoryFree != 25000000000 || g.Utilization != 3 {
		t.Errorf("decoded %+v", g)
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != old {
		t.Errorf("re-encoded %s, want %s", b, old)
	}
}

func TestFreeMemory(t *testing.T) {
	for _, c := range []struct {
		name string
		gpus []GPUInfo
		want uint64
	}{
		{"cpu node", nil, 0},
		{"largest free of all gpus", []GPUInfo{{MemoryTotal: 80, MemoryFree: 10}, {MemoryTotal: 24, MemoryFree: 20}}, 20},
		{"own pipelines count as free", []GPUInfo{{MemoryTotal: 80, MemoryFree: 10, ProcessMemory: 60}}, 70},
		{"never above total", []GPUInfo{{MemoryTotal: 80, MemoryFree: 50, ProcessMemory: 60}}, 80},
		{"no total (old announcement)", []GPUInfo{{MemoryFree: 30}}, 30},
	} {
		if got := (NodeInfo{GPUs: c.gpus}).FreeMemory(); got != c.want {
			t.Errorf("%s: FreeMemory = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestDecodeNodeTelemetry(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	good := NodeTelemetry{Node: "w0", StartedAt: at, At: at, GPUs: []GPUInfo{{Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-1",
		MemoryTotal: 80 << 30, PowerW: 512, ThrottleReasons: []string{"sw_power_cap"}, SampledAt: at}}}
	many := make([]GPUInfo, MaxNodeGPUs+1)
	reasons := make([]string, MaxThrottleReasons+1)
	for _, c := range []struct {
		name    string
		mutate  func(*NodeTelemetry)
		raw     string
		wantErr string
	}{
		{name: "good"},
		{name: "no node", mutate: func(m *NodeTelemetry) { m.Node = "" }, wantErr: "node"},
		{name: "node with a slash", mutate: func(m *NodeTelemetry) { m.Node = "a/b" }, wantErr: "node"},
		{name: "too many gpus", mutate: func(m *NodeTelemetry) { m.GPUs = many }, wantErr: "gpus"},
		{name: "long name", mutate: func(m *NodeTelemetry) { m.GPUs[0].Name = strings.Repeat("x", MaxGPUNameBytes+1) }, wantErr: "gpus[0].name"},
		{name: "too many reasons", mutate: func(m *NodeTelemetry) { m.GPUs[0].ThrottleReasons = reasons }, wantErr: "gpus[0].throttle_reasons"},
		{name: "a long reason", mutate: func(m *NodeTelemetry) {
			m.GPUs[0].ThrottleReasons = []string{"hw_slowdown", strings.Repeat("x", MaxThrottleReason+1)}
		}, wantErr: "gpus[0].throttle_reasons[1]"},
		{name: "negative power", mutate: func(m *NodeTelemetry) { m.GPUs[0].PowerW = -1 }, wantErr: "gpus[0]"},
		{name: "not json", raw: "{", wantErr: "decoding node telemetry"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := good
			m.GPUs = slices.Clone(good.GPUs)
			if c.mutate != nil {
				c.mutate(&m)
			}
			data := []byte(c.raw)
			if c.raw == "" {
				var err error
				if data, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			got, err := DecodeNodeTelemetry(data)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("DecodeNodeTelemetry: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("DecodeNodeTelemetry: %v; want an error about %q", err, c.wantErr)
			case c.wantErr == "" && (got.Node != "w0" || !got.GPUs[0].SampledAt.Equal(at) || got.GPUs[0].ThrottleReasons[0] != "sw_power_cap"):
				t.Errorf("decoded %+v", got)
			}
		})
	}
}

// TestTelemetryPermissions: a node may publish only its own telemetry
// subject (the shared node user any node's), every coordinator reads all.
func TestTelemetryPermissions(t *testing.T) {
	if s := TelemetrySubject("w0.example"); s != "sanafarm.telemetry.w0%2Eexample" {
		t.Errorf("TelemetrySubject = %q: want one token per node id", s)
	}
	for _, c := range []struct {
		perms NATSPermissions
		list  func(NATSPermissions) []string
		want  string
	}{
		{NodePermissions("w0"), func(p NATSPermissions) []string { return p.Publish }, "sanafarm.telemetry.w0"},
		{NodePermissions(""), func(p NATSPermissions) []string { return p.Publish }, "sanafarm.telemetry.*"},
		{CoordinatorPermissions(), func(p NATSPermissions) []string { return p.Subscribe }, "sanafarm.telemetry.>"},
	} {
		if got := c.list(c.perms); !slices.Contains(got, c.want) {
			t.Errorf("permissions %v lack %q", got, c.want)
		}
	}
}
