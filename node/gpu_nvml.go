//go:build nvml && cgo

package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/sanafarm/sanafarm/protocol"
)

// nvmlInspector reads the GPU inventory through NVML (libnvml.so is loaded
// at run time by go-nvml, so the binary starts on machines without it).
type nvmlInspector struct {
	log  *slog.Logger
	once sync.Once
}

func newPlatformInspector(log *slog.Logger) GPUInspector { return &nvmlInspector{log: log} }

// GPUs lists the devices; a missing library or driver means none.
func (n *nvmlInspector) GPUs(ctx context.Context) ([]protocol.GPUInfo, error) {
	ret := nvml.Init()
	switch ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_NO_PERMISSION:
		n.once.Do(func() { n.log.Info("no NVIDIA GPU inventory; running as a CPU node", "nvml", nvml.ErrorString(ret)) })
		return nil, nil
	default:
		return nil, fmt.Errorf("initializing nvml: %s", nvml.ErrorString(ret))
	}
	defer nvml.Shutdown()
	count, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("counting gpus: %s", nvml.ErrorString(ret))
	}
	gpus := make([]protocol.GPUInfo, 0, count)
	for i := range count {
		g, err := deviceInfo(i)
		if err != nil {
			return nil, err
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}

func deviceInfo(i int) (protocol.GPUInfo, error) {
	d, ret := nvml.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return protocol.GPUInfo{}, fmt.Errorf("opening gpu %d: %s", i, nvml.ErrorString(ret))
	}
	g := protocol.GPUInfo{Index: i}
	if g.Name, ret = d.GetName(); ret != nvml.SUCCESS {
		return g, fmt.Errorf("reading gpu %d name: %s", i, nvml.ErrorString(ret))
	}
	if uuid, ret := d.GetUUID(); ret == nvml.SUCCESS {
		g.UUID = uuid
	}
	if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryTotal, g.MemoryFree = m.Total, m.Free
	}
	if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
		g.Utilization = float64(u.Gpu)
	}
	return g, nil
}
