package node

import (
	"context"
	"log/slog"

	"github.com/sanafarm/sanafarm/protocol"
)

// NewGPUInspector returns the machine's GPU inspector: NVML in builds
// tagged nvml (with cgo), degrading to "no GPUs" when the library or the
// driver is missing; elsewhere always "no GPUs" (a CPU node).
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
