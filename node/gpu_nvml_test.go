//go:build cgo && !nonvml

package node

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/sanafarm/sanafarm/protocol"
)

// sensors gives a go-nvml mock device the readings the dgxh100 mock
// leaves unset (it models inventory and MIG only).
func sensors(d *mock.Device, pid int, unsupported bool) {
	na := func(r nvml.Return) nvml.Return {
		if unsupported {
			return nvml.ERROR_NOT_SUPPORTED
		}
		return r
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: 87, Memory: 41}, na(nvml.SUCCESS)
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 64, na(nvml.SUCCESS) }
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 512_250, na(nvml.SUCCESS) }
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700_000, na(nvml.SUCCESS) }
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_MEM {
			return 2619, na(nvml.SUCCESS)
		}
		return 1980, na(nvml.SUCCESS)
	}
	// A driver before 12.2 has only the throttle call.
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return 0, nvml.ERROR_FUNCTION_NOT_FOUND }
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) {
		return nvml.ClocksEventReasonSwPowerCap | nvml.ClocksThrottleReasonHwThermalSlowdown, na(nvml.SUCCESS)
	}
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, _ nvml.EccCounterType) (uint64, nvml.Return) {
		if t == nvml.MEMORY_ERROR_TYPE_CORRECTED {
			return 3, na(nvml.SUCCESS)
		}
		return 1, na(nvml.SUCCESS)
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: uint32(pid), UsedGpuMemory: 10 << 30}, {Pid: 1, UsedGpuMemory: 5 << 30}}, na(nvml.SUCCESS)
	}
}

// dgx is go-nvml's mocked DGX H100 (8 GPUs) with sensors on every GPU.
func dgx(t *testing.T, pid int, unsupported bool) *server.Server {
	t.Helper()
	s := dgxh100.New()
	for i, d := range s.Devices {
		dev, ok := d.(*server.Device)
		if !ok {
			t.Fatalf("device %d is a %T", i, d)
		}
		sensors(&dev.Device, pid, unsupported)
	}
	return s
}

func TestNVMLInspectorSamplesMockDGX(t *testing.T) {
	const pid = 4242
	for _, c := range []struct {
		name        string
		unsupported bool // every optional reading answers NOT_SUPPORTED
		visible     string
		set         bool
		wantIdx     []int // NVML index of each result (CUDA ordinal = position)
	}{
		{name: "all", wantIdx: []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{name: "no sensors", unsupported: true, wantIdx: []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{name: "CUDA_VISIBLE_DEVICES=5,2", visible: "5,2", set: true, wantIdx: []int{5, 2}},
		{name: "CUDA_VISIBLE_DEVICES empty", visible: "", set: true, wantIdx: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			lib := dgx(t, pid, c.unsupported)
			in := newNVMLInspector(lib, slog.New(slog.DiscardHandler))
			in.pid, in.visible = pid, func() (string, bool) { return c.visible, c.set }
			gpus, err := in.GPUs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(gpus) != len(c.wantIdx) {
				t.Fatalf("%d GPUs, want %d", len(gpus), len(c.wantIdx))
			}
			for ord, g := range gpus {
				wantUUID, _ := lib.Devices[c.wantIdx[ord]].GetUUID()
				checkGPU(t, g, ord, wantUUID, c.unsupported)
			}
		})
	}
}

func checkGPU(t *testing.T, g protocol.GPUInfo, ord int, uuid string, unsupported bool) {
	t.Helper()
	if g.Index != ord || g.UUID != uuid || !strings.Contains(g.Name, "H100") || g.MemoryTotal < 80<<30 || g.SampledAt.IsZero() {
		t.Errorf("GPU %d: index %d uuid %q name %q total %d sampled %v; want index %d uuid %q, an H100 of 80 GB", ord, g.Index, g.UUID, g.Name, g.MemoryTotal, g.SampledAt, ord, uuid)
	}
	if g.MemoryFree+g.MemoryUsed > g.MemoryTotal {
		t.Errorf("GPU %d: free %d + used %d > total %d", ord, g.MemoryFree, g.MemoryUsed, g.MemoryTotal)
	}
	want := protocol.GPUInfo{Utilization: 87, MemoryUtilization: 41, TemperatureC: 64, PowerW: 512.25, PowerLimitW: 700,
		SMClockMHz: 1980, MemoryClockMHz: 2619, ThrottleReasons: []string{"sw_power_cap", "hw_thermal"},
		ECCCorrected: 3, ECCUncorrected: 1, ProcessMemory: 10 << 30}
	if unsupported {
		want = protocol.GPUInfo{}
	}
	got := protocol.GPUInfo{Utilization: g.Utilization, MemoryUtilization: g.MemoryUtilization, TemperatureC: g.TemperatureC,
		PowerW: g.PowerW, PowerLimitW: g.PowerLimitW, SMClockMHz: g.SMClockMHz, MemoryClockMHz: g.MemoryClockMHz,
		ThrottleReasons: g.ThrottleReasons, ECCCorrected: g.ECCCorrected, ECCUncorrected: g.ECCUncorrected, ProcessMemory: g.ProcessMemory}
	if !slices.Equal(got.ThrottleReasons, want.ThrottleReasons) {
		t.Errorf("GPU %d throttle reasons %v, want %v", ord, got.ThrottleReasons, want.ThrottleReasons)
	}
	got.ThrottleReasons, want.ThrottleReasons = nil, nil
	if got.Utilization != want.Utilization || got.MemoryUtilization != want.MemoryUtilization || got.TemperatureC != want.TemperatureC ||
		got.PowerW != want.PowerW || got.PowerLimitW != want.PowerLimitW || got.SMClockMHz != want.SMClockMHz ||
		got.MemoryClockMHz != want.MemoryClockMHz || got.ECCCorrected != want.ECCCorrected ||
		got.ECCUncorrected != want.ECCUncorrected || got.ProcessMemory != want.ProcessMemory {
		t.Errorf("GPU %d telemetry %+v, want %+v", ord, got, want)
	}
}

// TestNVMLInspectorWithoutDriver: a machine without the library, the
// driver or the permission has no GPUs and says so once; another Init
// failure is an error; a device that cannot be read fails the sample.
func TestNVMLInspectorWithoutDriver(t *testing.T) {
	for _, c := range []struct {
		name    string
		init    nvml.Return
		name0   nvml.Return
		wantErr string
		wantLog string
	}{
		{name: "no library", init: nvml.ERROR_LIBRARY_NOT_FOUND, wantLog: "NVML is unavailable"},
		{name: "no driver", init: nvml.ERROR_DRIVER_NOT_LOADED, wantLog: "NVML is unavailable"},
		{name: "no permission", init: nvml.ERROR_NO_PERMISSION, wantLog: "NVML is unavailable"},
		{name: "unknown init error", init: nvml.ERROR_UNKNOWN, wantErr: "initialising nvml"},
		{name: "gpu lost", init: nvml.SUCCESS, name0: nvml.ERROR_GPU_IS_LOST, wantErr: "reading the name of gpu 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			inits := 0
			dev := &mock.Device{GetNameFunc: func() (string, nvml.Return) { return "", c.name0 }}
			lib := &mock.Interface{
				InitFunc:                   func() nvml.Return { inits++; return c.init },
				ErrorStringFunc:            func(r nvml.Return) string { return r.Error() },
				DeviceGetCountFunc:         func() (int, nvml.Return) { return 1, nvml.SUCCESS },
				DeviceGetHandleByIndexFunc: func(int) (nvml.Device, nvml.Return) { return dev, nvml.SUCCESS },
			}
			var logs bytes.Buffer
			in := newNVMLInspector(lib, slog.New(slog.NewTextHandler(&logs, nil)))
			for range 2 {
				gpus, err := in.GPUs(context.Background())
				if len(gpus) != 0 || (err == nil) != (c.wantErr == "") || err != nil && !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("GPUs = %v, %v; want none and error %q", gpus, err, c.wantErr)
				}
			}
			if n := strings.Count(logs.String(), "\n"); c.wantLog != "" && (n != 1 || !strings.Contains(logs.String(), c.wantLog)) {
				t.Errorf("logged %q; want one line with %q", logs.String(), c.wantLog)
			}
			if c.wantLog != "" && inits != 1 {
				t.Errorf("Init called %d times; an absent NVML is not retried", inits)
			}
		})
	}
}
