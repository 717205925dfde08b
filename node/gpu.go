package node

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
)

// GPU inventory and telemetry (docs/architecture.md, GPU telemetry).
// Every cgo build reads them through NVML (gpu_nvml.go: go-nvml loads
// libnvidia-ml.so.1 at run time, so neither the CUDA toolkit nor a driver
// is needed to build or start); a CGO_ENABLED=0 build, or one tagged
// nonvml, has no NVML and reports no GPUs (gpu_other.go).

// NewGPUInspector returns the machine's GPU inspector: NVML in cgo builds,
// degrading to "no GPUs" with one log line when the library or the driver
// is missing; elsewhere always "no GPUs" (a CPU node). Each call samples
// the GPUs afresh (memory, utilisation, temperature, power, clocks,
// throttle reasons, ECC errors), so the agent calls it every
// Config.TelemetryInterval.
func NewGPUInspector(log *slog.Logger) GPUInspector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return newPlatformInspector(log)
}

// NoGPUs is the inspector of a CPU-only machine.
type NoGPUs struct{}

// GPUs returns none.
func (NoGPUs) GPUs(context.Context) ([]protocol.GPUInfo, error) { return nil, nil }

// StaticGPUs reports a fixed inventory (tests, or GPUs set by flags).
type StaticGPUs []protocol.GPUInfo

// GPUs returns the list.
func (s StaticGPUs) GPUs(context.Context) ([]protocol.GPUInfo, error) { return s, nil }

// SelectGPUs reports only the GPUs with the given CUDA ordinals (a node's
// --devices, or the one device of a `sanafarm dev` agent), so a node
// announces and samples the GPUs its slots use; nil devices keeps all.
func SelectGPUs(in GPUInspector, devices []int) GPUInspector {
	if devices == nil {
		return in
	}
	return selectedGPUs{in: in, devices: slices.Clone(devices)}
}

type selectedGPUs struct {
	in      GPUInspector
	devices []int
}

func (s selectedGPUs) GPUs(ctx context.Context) ([]protocol.GPUInfo, error) {
	all, err := s.in.GPUs(ctx)
	if err != nil {
		return nil, err
	}
	var out []protocol.GPUInfo
	for _, g := range all {
		if slices.Contains(s.devices, g.Index) {
			out = append(out, g)
		}
	}
	return out, nil
}

// cudaOrdinals renumbers NVML's GPUs (indexed by NVML) as CUDA numbers
// them under CUDA_VISIBLE_DEVICES, which NVML ignores (visible; unset:
// all, in NVML's order): its entries are NVML indices or UUIDs (full, or
// a prefix such as "GPU-8f3c"), and CUDA stops at the first entry that
// names no GPU. The
// result's Index is the CUDA ordinal the executors open. Unrestricted,
// CUDA orders devices fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID
// (NVML's order): identical GPUs, the usual node, come out alike either
// way; a host mixing GPU models should set it.
func cudaOrdinals(gpus []protocol.GPUInfo, visible string, set bool) []protocol.GPUInfo {
	if !set {
		return gpus
	}
	var out []protocol.GPUInfo
	for _, e := range strings.Split(visible, ",") {
		g, ok := findVisible(gpus, strings.TrimSpace(e))
		if !ok || slices.ContainsFunc(out, func(o protocol.GPUInfo) bool { return o.UUID == g.UUID && g.UUID != "" }) {
			break
		}
		g.Index = len(out)
		out = append(out, g)
	}
	return out
}

// findVisible finds one CUDA_VISIBLE_DEVICES entry among the GPUs.
func findVisible(gpus []protocol.GPUInfo, e string) (protocol.GPUInfo, bool) {
	if e == "" {
		return protocol.GPUInfo{}, false
	}
	if i, err := strconv.Atoi(e); err == nil {
		for _, g := range gpus {
			if g.Index == i {
				return g, true
			}
		}
		return protocol.GPUInfo{}, false
	}
	if !strings.HasPrefix(e, "GPU-") && !strings.HasPrefix(e, "MIG-") {
		e = "GPU-" + e
	}
	for _, g := range gpus {
		if g.UUID != "" && strings.HasPrefix(g.UUID, e) {
			return g, true
		}
	}
	return protocol.GPUInfo{}, false
}
