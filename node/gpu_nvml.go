//go:build cgo && !nonvml

package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/sanafarm/sanafarm/protocol"
)

// nvmlInspector samples the GPUs through NVML. go-nvml needs cgo only for
// dlopen and its vendored nvml.h, and loads libnvidia-ml.so.1 at run time,
// so every cgo build links it (the cuda build and a plain cgo build alike)
// and still starts on a machine without the driver: Init fails, the node
// logs it once and runs as a CPU node.
type nvmlInspector struct {
	lib nvml.Interface
	log *slog.Logger
	pid int

	mu      sync.Mutex
	state   nvmlState
	visible func() (string, bool) // CUDA_VISIBLE_DEVICES
}

type nvmlState int

const (
	nvmlNew nvmlState = iota
	nvmlReady
	nvmlAbsent // no library, driver or permission: no GPUs, for good
)

// visibleDevices reads CUDA_VISIBLE_DEVICES (see cudaOrdinals).
func visibleDevices() (string, bool) { return os.LookupEnv("CUDA_VISIBLE_DEVICES") }

func newPlatformInspector(log *slog.Logger) GPUInspector {
	return newNVMLInspector(nvml.New(), log)
}

func newNVMLInspector(lib nvml.Interface, log *slog.Logger) *nvmlInspector {
	return &nvmlInspector{lib: lib, log: log, pid: os.Getpid(), visible: visibleDevices}
}

// GPUs samples every GPU the process's CUDA sees; a machine without the
// NVML library, the driver or the permission to use it has none. NVML
// stays initialised after the first call (it is sampled every few
// seconds; the process exit releases it).
func (n *nvmlInspector) GPUs(context.Context) ([]protocol.GPUInfo, error) {
	ok, err := n.init()
	if !ok || err != nil {
		return nil, err
	}
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("counting gpus with nvml: %s", n.lib.ErrorString(ret))
	}
	now := time.Now().UTC()
	gpus := make([]protocol.GPUInfo, 0, count)
	for i := range count {
		g, err := n.device(i)
		if err != nil {
			return nil, err
		}
		g.SampledAt = now
		gpus = append(gpus, g)
	}
	visible, set := n.visible()
	return cudaOrdinals(gpus, visible, set), nil
}

// init initialises NVML once; false (and no error) when it cannot be
// here at all.
func (n *nvmlInspector) init() (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case nvmlReady:
		return true, nil
	case nvmlAbsent:
		return false, nil
	}
	switch ret := n.lib.Init(); ret {
	case nvml.SUCCESS:
		n.state = nvmlReady
		return true, nil
	case nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_NO_PERMISSION:
		n.state = nvmlAbsent
		n.log.Info("no NVIDIA GPUs: NVML is unavailable (no driver, library or permission)",
			"nvml", n.lib.ErrorString(ret))
		return false, nil
	default:
		return false, fmt.Errorf("initialising nvml: %s", n.lib.ErrorString(ret))
	}
}

// device reads GPU i: its name is required, every other reading is
// optional (a GPU without ECC, a power sensor or clock-event reasons, or a
// virtual GPU, answers NOT_SUPPORTED for some) and left zero when absent.
func (n *nvmlInspector) device(i int) (protocol.GPUInfo, error) {
	d, ret := n.lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return protocol.GPUInfo{}, fmt.Errorf("opening gpu %d with nvml: %s", i, n.lib.ErrorString(ret))
	}
	g := protocol.GPUInfo{Index: i}
	if g.Name, ret = d.GetName(); ret != nvml.SUCCESS {
		return g, fmt.Errorf("reading the name of gpu %d with nvml: %s", i, n.lib.ErrorString(ret))
	}
	if uuid, ret := d.GetUUID(); ret == nvml.SUCCESS {
		g.UUID = uuid
	}
	if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryTotal, g.MemoryFree, g.MemoryUsed = m.Total, m.Free, m.Used
	}
	if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
		g.Utilization, g.MemoryUtilization = float64(u.Gpu), float64(u.Memory)
	}
	if t, ret := d.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		g.TemperatureC = int(t)
	}
	if p, ret := d.GetPowerUsage(); ret == nvml.SUCCESS {
		g.PowerW = float64(p) / 1000 // milliwatts
	}
	if p, ret := d.GetEnforcedPowerLimit(); ret == nvml.SUCCESS {
		g.PowerLimitW = float64(p) / 1000
	}
	if c, ret := d.GetClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
		g.SMClockMHz = int(c)
	}
	if c, ret := d.GetClockInfo(nvml.CLOCK_MEM); ret == nvml.SUCCESS {
		g.MemoryClockMHz = int(c)
	}
	g.ThrottleReasons = throttleReasons(d)
	g.ECCCorrected, g.ECCUncorrected = eccErrors(d)
	g.ProcessMemory = n.processMemory(d)
	return g, nil
}

// throttleReasons names the set bits of the clock event reasons (NVML
// 12.2 renamed "throttle" to "clocks event"; older drivers have only the
// throttle call, with the same bits).
func throttleReasons(d nvml.Device) []string {
	bits, ret := d.GetCurrentClocksEventReasons()
	if ret != nvml.SUCCESS {
		if bits, ret = d.GetCurrentClocksThrottleReasons(); ret != nvml.SUCCESS {
			return nil
		}
	}
	var out []string
	for _, r := range throttleNames {
		if bits&r.bit != 0 {
			out = append(out, r.name)
		}
	}
	return out
}

var throttleNames = []struct {
	bit  uint64
	name string
}{
	{nvml.ClocksEventReasonGpuIdle, "idle"},
	{nvml.ClocksEventReasonApplicationsClocksSetting, "applications_clocks"},
	{nvml.ClocksEventReasonSwPowerCap, "sw_power_cap"},
	{nvml.ClocksThrottleReasonHwSlowdown, "hw_slowdown"},
	{nvml.ClocksEventReasonSyncBoost, "sync_boost"},
	{nvml.ClocksEventReasonSwThermalSlowdown, "sw_thermal"},
	{nvml.ClocksThrottleReasonHwThermalSlowdown, "hw_thermal"},
	{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, "power_brake"},
	{nvml.ClocksEventReasonDisplayClockSetting, "display_clocks"},
}

// eccErrors returns the corrected and uncorrected ECC error counts since
// the driver loaded (zero without ECC).
func eccErrors(d nvml.Device) (corrected, uncorrected uint64) {
	if c, ret := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS {
		corrected = c
	}
	if u, ret := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS {
		uncorrected = u
	}
	return corrected, uncorrected
}

// processMemory is the GPU memory this process holds on d. In a container
// without the host's PID namespace NVML reports host pids, so it finds
// nothing and reports 0: the scheduler then counts the node's own
// pipelines as taken (conservative).
func (n *nvmlInspector) processMemory(d nvml.Device) uint64 {
	procs, ret := d.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS {
		return 0
	}
	var m uint64
	for _, p := range procs {
		if int(p.Pid) == n.pid {
			m += p.UsedGpuMemory
		}
	}
	return m
}
