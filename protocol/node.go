package protocol

import (
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// NodeInfo is what a node announces in etcd (under NodeKey) and sends with
// lease requests.
type NodeInfo struct {
	ID      string `json:"id"`
	Host    string `json:"host,omitempty"`
	Version string `json:"version,omitempty"`
	Backend string `json:"backend"` // "cpu" or "cuda"
	// Precision is the backend's mode ("f32", "bf16"; docs/performance.md)
	// and CUDAGraphs whether denoising steps replay CUDA graphs
	// (--cuda-graphs): results differ between precisions, so operators see
	// which node ran what.
	Precision  string    `json:"precision,omitempty"`
	CUDAGraphs bool      `json:"cuda_graphs,omitempty"`
	GPUs       []GPUInfo `json:"gpus,omitempty"`
	// Slots is how many tasks the node runs at once (one per GPU).
	Slots int `json:"slots"`
	// Models resident in memory (preset names or repo ids; a pipeline with
	// LoRAs fused or from NVlabs files as JobSpec.VariantKey names it).
	Models    []string  `json:"models,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Draining nodes take no new work.
	Draining bool `json:"draining,omitempty"`
	// DrainReason says why a node drains of its own accord when it is not
	// a plain shutdown: it restarts after a GPU fault or a hung executor
	// (node/restart.go), and operators should see why without reading its
	// journal. Cut to 128 bytes like the other labels.
	DrainReason string `json:"drain_reason,omitempty"`
	// Features lists what the node's release can run beyond plain jobs
	// (FeatureJobInputs): a node of an earlier release would ignore the
	// fields it does not know and write wrong images, so the scheduler
	// gives such jobs only to nodes that announce them.
	Features []string `json:"features,omitempty"`
	// LeaderUnreachable says the node's control requests have found no
	// leader for a while although its NATS connection is up: a leader
	// that most live nodes cannot reach hands its leadership on
	// (coordinator/unheard.go). Earlier coordinators ignore it.
	LeaderUnreachable bool `json:"leader_unreachable,omitempty"`
	// LeaderUnreachableSince is when, by the node's clock (Unix seconds),
	// its requests began finding no leader: a leader that took office
	// after that waits as long as the outage had lasted before handing on
	// (coordinator/unheard.go). 0: not said (or not flagged).
	LeaderUnreachableSince int64 `json:"leader_unreachable_since,omitempty"`
}

// maxNodeLabel bounds each free-text field of an announcement.
const maxNodeLabel = 128

// Sanitized returns n with its free-text display fields (Host, Version,
// Backend, Precision, DrainReason) cut to 128 bytes at a rune boundary and control
// characters replaced: an announcement comes from the node, and these
// end up in terminal tables and logs (a newline or tab would forge rows).
func (n NodeInfo) Sanitized() NodeInfo {
	for _, f := range []*string{&n.Host, &n.Version, &n.Backend, &n.Precision, &n.DrainReason} {
		*f = label(*f)
	}
	if !n.LeaderUnreachable || n.LeaderUnreachableSince < 0 || n.LeaderUnreachableSince > maxUnixSeconds {
		n.LeaderUnreachableSince = 0 // not said: past year 9999 time.Unix wraps, and the time would sort first
	}
	return n
}

// maxUnixSeconds is the last second of year 9999.
const maxUnixSeconds = 253402300799

func label(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= maxNodeLabel {
		return s
	}
	cut := maxNodeLabel
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Compute names the node's backend with its precision and graph mode,
// e.g. "cuda · bf16 · graphs" (dashboard and `sanafarm nodes`).
func (n NodeInfo) Compute() string {
	parts := []string{n.Backend}
	if n.Precision != "" {
		parts = append(parts, n.Precision)
	}
	if n.CUDAGraphs {
		parts = append(parts, "graphs")
	}
	return strings.Join(parts, " · ")
}

// FeatureJobInputs: the node runs JobSpec.LoRAs, LoRAScale, InitImage,
// InitImageColumn, Strength, Config and Checkpoint.
const FeatureJobInputs = "job-inputs"

// FeatureGangAddressed: the node's gang ranks can address each message to
// its recipient (Assignment.Addressed), the only gang traffic a per-node
// NATS user may read (ShardSubscribe).
const FeatureGangAddressed = "gang-addressed"

// NeedsFeature returns the node feature a job needs ("" for none).
func (s JobSpec) NeedsFeature() string {
	if s.UsesPAG() || s.Controlled() { // a node announcing it runs job inputs too
		return FeatureGuidance
	}
	if len(s.LoRAs) > 0 || s.ImageToImage() || s.Config != "" {
		return FeatureJobInputs
	}
	return ""
}

// GPUInfo describes one GPU (from NVML where available). Index is the
// CUDA device ordinal the node's executors use. The fields after
// Utilization are telemetry, sampled every few seconds (GPUTelemetry,
// docs/architecture.md §2, GPU telemetry); all are optional, so a node of an
// earlier release (inventory only) and a GPU without a sensor (0, omitted)
// decode alike.
type GPUInfo struct {
	Index       int     `json:"index"`
	Name        string  `json:"name"`
	UUID        string  `json:"uuid,omitempty"`
	MemoryTotal uint64  `json:"memory_total"`
	MemoryFree  uint64  `json:"memory_free"`
	Utilization float64 `json:"utilization,omitempty"` // percent

	MemoryUsed uint64 `json:"memory_used,omitempty"`
	// ProcessMemory is what the node's own process holds on the GPU (its
	// resident pipelines and CUDA context): memory the node frees itself
	// when it swaps models, unlike other processes' (see FreeMemory).
	ProcessMemory     uint64  `json:"process_memory,omitempty"`
	MemoryUtilization float64 `json:"memory_utilization,omitempty"` // percent of time memory was read or written
	TemperatureC      int     `json:"temperature_c,omitempty"`
	PowerW            float64 `json:"power_w,omitempty"`
	PowerLimitW       float64 `json:"power_limit_w,omitempty"`
	SMClockMHz        int     `json:"sm_clock_mhz,omitempty"`
	MemoryClockMHz    int     `json:"memory_clock_mhz,omitempty"`
	// ThrottleReasons names why the clocks are held down right now
	// (NVML's clock event reasons: "idle", "sw_power_cap", "hw_slowdown",
	// "sw_thermal", "hw_thermal", "power_brake", …); empty at full clock.
	ThrottleReasons []string `json:"throttle_reasons,omitempty"`
	// ECC error counts since the driver loaded (volatile counters);
	// zero on GPUs without ECC.
	ECCCorrected   uint64    `json:"ecc_corrected,omitempty"`
	ECCUncorrected uint64    `json:"ecc_uncorrected,omitempty"`
	SampledAt      time.Time `json:"sampled_at,omitzero"`
}

// FreeMemory is the most GPU memory one of the node's GPUs has for a new
// model (0 for CPU nodes): its free memory plus what the node's own
// process holds there (resident pipelines, evicted for a new model), so
// memory taken by other processes on a shared GPU keeps a model that
// would not fit away, while the node's own cache does not.
func (n NodeInfo) FreeMemory() uint64 {
	var m uint64
	for _, g := range n.GPUs {
		free := g.MemoryFree + g.ProcessMemory
		if g.MemoryTotal > 0 {
			free = min(free, g.MemoryTotal)
		}
		m = max(m, free)
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
