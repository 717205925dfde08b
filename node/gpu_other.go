//go:build !cgo || nonvml

package node

import (
	"context"
	"log/slog"
	"sync"

	"github.com/sanafarm/sanafarm/protocol"
)

// newPlatformInspector: go-nvml needs cgo, and this build has none (the
// static CGO_ENABLED=0 binary of make build and make image) or was tagged
// nonvml, so it has no NVML and the node is a CPU node. Such a binary has
// only the cpu backend anyway (the cuda build needs cgo).
func newPlatformInspector(log *slog.Logger) GPUInspector { return &noNVML{log: log} }

// noNVML reports no GPUs, saying why once.
type noNVML struct {
	log  *slog.Logger
	once sync.Once
}

func (n *noNVML) GPUs(context.Context) ([]protocol.GPUInfo, error) {
	n.once.Do(func() {
		n.log.Debug("no GPU inventory: this binary was built without cgo (or with -tags nonvml), so without NVML")
	})
	return nil, nil
}
