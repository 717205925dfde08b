package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

var testGPUs = node.StaticGPUs{
	{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-aaaa", MemoryTotal: 80 << 30, MemoryFree: 60 << 30, MemoryUsed: 20 << 30,
		Utilization: 97, TemperatureC: 71, PowerW: 650, PowerLimitW: 700, SMClockMHz: 1980,
		ThrottleReasons: []string{"sw_power_cap"}, ECCCorrected: 2, SampledAt: time.Now()},
	{Index: 1, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-bbbb", MemoryTotal: 80 << 30, MemoryFree: 80 << 30},
}

func TestListGPUs(t *testing.T) {
	for _, c := range []struct {
		name   string
		inv    node.GPUInspector
		asJSON bool
		want   []string
	}{
		{"text", testGPUs, false, []string{"GPU  NAME", "GPU-aaaa", "20.0/80.0 GiB", "97%", "71°C", "650/700 W", "1980 MHz", "sw_power_cap", "2/0"}},
		{"json", testGPUs, true, []string{`"uuid": "GPU-bbbb"`, `"throttle_reasons": [`}},
		{"none", node.NoGPUs{}, false, []string{"no GPUs"}},
		{"none json", node.NoGPUs{}, true, []string{`"gpus": []`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := listGPUs(context.Background(), c.inv, c.asJSON, &out, &errOut); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if c.asJSON {
				var l gpuList
				if err := json.Unmarshal(out.Bytes(), &l); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			}
		})
	}
}

type failingGPUs struct{}

func (failingGPUs) GPUs(context.Context) ([]protocol.GPUInfo, error) {
	return nil, errors.New("nvml: GPU is lost")
}

func TestListGPUsFailure(t *testing.T) {
	var out, errOut bytes.Buffer
	err := listGPUs(context.Background(), failingGPUs{}, false, &out, &errOut)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(errOut.String(), "GPU is lost") {
		t.Errorf("err %v, stderr %q: want exit status 1 naming the cause", err, errOut.String())
	}
}

func TestResolveDevices(t *testing.T) {
	for _, c := range []struct {
		name    string
		backend string
		flag    string
		inv     node.GPUInspector
		want    []int
		wantErr string
	}{
		{"cpu", "cpu", "all", testGPUs, []int{0}, ""},
		{"listed", "cuda", "1", testGPUs, []int{1}, ""},
		{"all", "cuda", "all", testGPUs, []int{0, 1}, ""},
		{"all without gpus", "cuda", "all", node.NoGPUs{}, nil, "no GPU found"},
		{"all with nvml failing", "cuda", "all", failingGPUs{}, nil, "GPU is lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			devices, err := parseDevices(c.flag)
			if err != nil {
				t.Fatal(err)
			}
			got, inv, err := resolveDevices(context.Background(), c.backend, devices, c.inv)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("devices %v, %v; want %v", got, err, c.want)
			}
			gpus, _ := inv.GPUs(context.Background())
			if c.backend == "cpu" && len(gpus) != 0 || c.backend != "cpu" && len(gpus) != len(c.want) {
				t.Errorf("the node would announce %d GPUs for devices %v", len(gpus), got)
			}
		})
	}
	for _, bad := range []string{"", "x", "-1", "0,all"} {
		if _, err := parseDevices(bad); err == nil {
			t.Errorf("--devices %q accepted", bad)
		}
	}
}

func TestGPUUUID(t *testing.T) {
	gpus, _ := testGPUs.GPUs(context.Background())
	for d, want := range map[int]string{0: "GPU-aaaa", 1: "GPU-bbbb", 5: ""} {
		if got := gpuUUID(d, gpus); got != want {
			t.Errorf("gpuUUID(%d) = %q, want %q", d, got, want)
		}
	}
}

func TestNodesShowsGPUs(t *testing.T) {
	gpus, _ := testGPUs.GPUs(context.Background())
	var out bytes.Buffer
	nodes := []api.NodeStatus{{Info: protocol.NodeInfo{ID: "cpu-1"}, Live: true}, {Info: protocol.NodeInfo{ID: "gpu-1", GPUs: gpus}, Live: true}}
	if err := writeNodeGPUs(&out, nodes); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NODE") || !strings.HasPrefix(lines[1], "gpu-1") || !strings.Contains(lines[2], "GPU-bbbb") {
		t.Errorf("GPU table:\n%s", out.String())
	}
	out.Reset()
	if err := writeNodeGPUs(&out, nodes[:1]); err != nil || out.Len() != 0 {
		t.Errorf("a CPU farm printed %q", out.String())
	}
}
