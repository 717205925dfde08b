package protocol

import (
	"os"
	"strings"
	"time"
)

// NodeInfo is what a node announces in etcd (under NodeKey) and sends with
// lease requests.
type NodeInfo struct {
	ID      string    `json:"id"`
	Host    string    `json:"host,omitempty"`
	Version string    `json:"version,omitempty"`
	Backend string    `json:"backend"` // "cpu" or "cuda"
	GPUs    []GPUInfo `json:"gpus,omitempty"`
	// Slots is how many tasks the node runs at once (one per GPU).
	Slots int `json:"slots"`
	// Models resident in memory (preset names or repo ids; a pipeline with
	// LoRAs fused or from NVlabs files as JobSpec.VariantKey names it).
	Models    []string  `json:"models,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Draining nodes take no new work.
	Draining bool `json:"draining,omitempty"`
	// Features lists what the node's release can run beyond plain jobs
	// (FeatureJobInputs): a node of an earlier release would ignore the
	// fields it does not know and write wrong images, so the scheduler
	// gives such jobs only to nodes that announce them.
	Features []string `json:"features,omitempty"`
}

// FeatureJobInputs: the node runs JobSpec.LoRAs, LoRAScale, InitImage,
// InitImageColumn, Strength, Config and Checkpoint.
const FeatureJobInputs = "job-inputs"

// NeedsFeature returns the node feature a job needs ("" for none).
func (s JobSpec) NeedsFeature() string {
	if len(s.LoRAs) > 0 || s.ImageToImage() || s.Config != "" {
		return FeatureJobInputs
	}
	return ""
}

// GPUInfo describes one GPU (from NVML where available).
type GPUInfo struct {
	Index       int     `json:"index"`
	Name        string  `json:"name"`
	UUID        string  `json:"uuid,omitempty"`
	MemoryTotal uint64  `json:"memory_total"`
	MemoryFree  uint64  `json:"memory_free"`
	Utilization float64 `json:"utilization,omitempty"` // percent
}

// FreeMemory is the largest free GPU memory of the node (0 for CPU nodes).
func (n NodeInfo) FreeMemory() uint64 {
	var m uint64
	for _, g := range n.GPUs {
		m = max(m, g.MemoryFree)
	}
	return m
}

// HostnameID is the machine's hostname made into a node/coordinator id:
// characters outside [A-Za-z0-9._-] become '-', and fallback is used when
// the hostname cannot be read.
func HostnameID(fallback string) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return fallback
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, h)
}
