//go:build !(nvml && cgo)

package node

import "log/slog"

// newPlatformInspector: this build has no NVML (build with -tags nvml and
// cgo for GPU inventory), so the node is a CPU node.
func newPlatformInspector(*slog.Logger) GPUInspector { return NoGPUs{} }
