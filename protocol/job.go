package protocol

import "time"

// JobID identifies a job ("j-" + 16 hex digits when the coordinator
// assigns it).
type JobID string

// JobState is the lifecycle state of a job.
type JobState string

// Job states.
const (
	JobQueued    JobState = "queued"    // accepted, no shard done yet
	JobRunning   JobState = "running"   // at least one shard leased or done
	JobDone      JobState = "done"      // every shard done
	JobFailed    JobState = "failed"    // a shard exhausted its attempts
	JobCancelled JobState = "cancelled" // cancelled by a user
)

// Terminal reports whether no more work will happen for the job.
func (s JobState) Terminal() bool { return s == JobDone || s == JobFailed || s == JobCancelled }

// PromptSource says where a job's prompts are. Small jobs may carry their
// prompts inline; large ones name an object (file://, s3://) and a row
// count, and nodes read only their tasks' row ranges — millions of
// prompts never enter the Raft log.
type PromptSource struct {
	// Inline prompts (at most MaxInlinePrompts).
	Inline []string `json:"inline,omitempty"`
	// InlineStart is the row number of Inline[0]. A job keeps it 0; an
	// Assignment carries only its task's rows (so a lease reply stays far
	// below NATS's 1 MiB payload limit) with InlineStart set to the first.
	InlineStart int64 `json:"inline_start,omitempty"`
	// URL of a prompt file: file:///path, s3://bucket/key, or a path.
	URL string `json:"url,omitempty"`
	// Format of the file: txt, jsonl, csv or parquet ("" = from the URL's
	// extension).
	Format string `json:"format,omitempty"`
	// Rows is the number of prompts in the file (counted at submit time).
	Rows int64 `json:"rows,omitempty"`
	// Index of the file's row offsets (promptindex.go; nil: scan from the start).
	Index *PromptIndex `json:"index,omitempty"`
}

// Count is the number of prompts.
func (p PromptSource) Count() int64 {
	if len(p.Inline) > 0 {
		return p.InlineStart + int64(len(p.Inline))
	}
	return p.Rows
}

// ForSamples returns the spec with inline prompts trimmed to the rows that
// samples [start, end) use (prompt = sample / images_per_prompt). File
// sources keep only the index entry their first row needs.
func (s JobSpec) ForSamples(start, end int64) JobSpec {
	s.Prompts = s.Prompts.trimIndex(s.ImagesPerPrompt, start, end) // and the file index to its entry
	p := s.Prompts
	if len(p.Inline) == 0 || end <= start {
		return s
	}
	ipp := int64(max(s.ImagesPerPrompt, 1))
	first, last := start/ipp, (end-1)/ipp+1
	lo, hi := first-p.InlineStart, last-p.InlineStart
	if lo < 0 || hi > int64(len(p.Inline)) || lo >= hi {
		return s
	}
	p.Inline = p.Inline[lo:hi:hi]
	p.InlineStart = first
	s.Prompts = p
	return s
}

// OutputSpec says where and how results are written.
type OutputSpec struct {
	// URL of the output prefix: file:///dir, s3://bucket/prefix, or a path.
	URL string `json:"url"`
	// Format: "webdataset" (tar shards) or "files" (default "files").
	Format string `json:"format,omitempty"`
}

// JobSpec is what a user submits.
type JobSpec struct {
	Name string `json:"name,omitempty"`
	// Model is a preset name (see Presets) or a Hugging Face repo id
	// ("org/name").
	Model    string `json:"model"`
	Revision string `json:"revision,omitempty"`
	Variant  string `json:"variant,omitempty"`
	// Width and Height of the images (0 = the model's native size).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Steps and Guidance (0 = the model's defaults).
	Steps    int     `json:"steps,omitempty"`
	Guidance float64 `json:"guidance,omitempty"`
	// Sampler override: "", "dpm" or "euler".
	Sampler string `json:"sampler,omitempty"`
	// Seed of the job: sample i uses SampleSeed(Seed, i).
	Seed            uint64       `json:"seed"`
	ImagesPerPrompt int          `json:"images_per_prompt,omitempty"`
	NegativePrompt  string       `json:"negative_prompt,omitempty"`
	Prompts         PromptSource `json:"prompts"`
	Output          OutputSpec   `json:"output"`
	// ShardSize is the number of samples (images) per output shard (0 =
	// DefaultShardSize).
	ShardSize int `json:"shard_size,omitempty"`
	// Priority: higher runs first; jobs of equal priority share nodes fairly.
	Priority int `json:"priority,omitempty"`
	// MaxAttempts per shard before the job fails (0 = DefaultMaxAttempts).
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Timeout bounds a run of the job (a Go duration such as "36h";
	// empty: none): once it has passed since the job was submitted, or
	// since a finished job was retried (Job.RunSince), the leader fails
	// the job whatever it is doing — queued with no node to run it,
	// paused, or running (coordinator/timeout.go).
	Timeout string `json:"timeout,omitempty"`
	// Parallel splits each shard's transformer over a gang of nodes:
	// "tp:d", "sp:d" (d = 2..8) or "cfg:2" ("" = one node per shard; see
	// ParseParallel).
	Parallel string `json:"parallel,omitempty"`
	// LoRAs are fused into the transformer at load (docs/lora.md), with
	// LoRAScale the global scale (0 = 1). Each URL is a node path, a
	// file:// or s3:// URL (checked against the node's --allow-read) or
	// hf://OWNER/REPO[/FILE].
	LoRAs     []LoRA  `json:"loras,omitempty"`
	LoRAScale float64 `json:"lora_scale,omitempty"`
	// InitImage (PNG or JPEG, a readable location or hf:// URL) makes
	// every sample image-to-image from it at Strength (0 = the model's
	// default); Sprint models only.
	InitImage string  `json:"init_image,omitempty"`
	Strength  float64 `json:"strength,omitempty"`
	// InitImageColumn instead names a column (an extra field) of the
	// prompt file holding each row's init image: a location or hf:// URL
	// per row, like img2dataset's url column.
	InitImageColumn string `json:"init_image_column,omitempty"`
	// Config and Checkpoint load an NVlabs model (YAML config and .pth
	// checkpoint, docs/nvlabs.md) instead of Model: node paths, file://
	// URLs or hf:// URLs, both or neither.
	Config     string `json:"config,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
	// PAG (docs/pag.md): PAGScale > 0 turns perturbed-attention guidance
	// on, PAGAdaptiveScale lowers it over the schedule, PAGLayers are the
	// perturbed transformer blocks (none: block 0).
	PAGScale         float64 `json:"pag_scale,omitempty"`
	PAGAdaptiveScale float64 `json:"pag_adaptive_scale,omitempty"`
	PAGLayers        []int   `json:"pag_layers,omitempty"`
	// ControlNet (docs/controlnet.md) is a SanaControlNetModel folder (a
	// node path or file:// URL under --allow-read) or hf://OWNER/REPO,
	// loaded with the model. ControlImage (one for the job) or
	// ControlImageColumn (a prompt file column, per row) conditions every
	// sample at ControlNetScale (0 = 1).
	ControlNet         string  `json:"controlnet,omitempty"`
	ControlImage       string  `json:"control_image,omitempty"`
	ControlImageColumn string  `json:"control_image_column,omitempty"`
	ControlNetScale    float64 `json:"controlnet_scale,omitempty"`
}

// Defaults and limits.
const (
	DefaultShardSize   = 64
	DefaultMaxAttempts = 5
	MaxInlinePrompts   = 10000
	MaxPromptBytes     = 64 << 10
	MaxImageSide       = 4096
	MaxSteps           = 1000
	MaxImagesPerPrompt = 1000
	MaxRows            = 1 << 36 // prompts per job (~69 billion)
)

// Samples is the number of images the job produces.
func (s JobSpec) Samples() int64 {
	return s.Prompts.Count() * int64(max(s.ImagesPerPrompt, 1))
}

// Shards is the number of output shards.
func (s JobSpec) Shards() int {
	n := s.Samples()
	size := int64(s.EffectiveShardSize())
	return int((n + size - 1) / size)
}

// EffectiveShardSize is ShardSize or its default.
func (s JobSpec) EffectiveShardSize() int {
	if s.ShardSize > 0 {
		return s.ShardSize
	}
	return DefaultShardSize
}

// EffectiveMaxAttempts is MaxAttempts or its default.
func (s JobSpec) EffectiveMaxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return DefaultMaxAttempts
}

// SampleRange returns the samples [start, end) of shard i.
func (s JobSpec) SampleRange(shard int) (start, end int64) {
	size := int64(s.EffectiveShardSize())
	start = int64(shard) * size
	return start, min(start+size, s.Samples())
}

// Job is a submitted job as the coordinator tracks it.
type Job struct {
	ID        JobID     `json:"id"`
	Spec      JobSpec   `json:"spec"`
	State     JobState  `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Shard counts by state, and images finished (including in-progress
	// shards' reported progress).
	Shards     int    `json:"shards"`
	ShardsDone int    `json:"shards_done"`
	Images     int64  `json:"images"`
	ImagesDone int64  `json:"images_done"`
	Error      string `json:"error,omitempty"`
	// SpecBytes is the size of Spec as JSON, measured by the leader that
	// committed the job (CmdJobSubmitBounded; zero for jobs submitted
	// before every coordinator knew that command): the replicated state
	// adds these up for --max-job-bytes, never re-encoding specs, which a
	// later release might encode differently.
	SpecBytes int64 `json:"spec_bytes,omitempty"`
	// ManifestAt is when the leader recorded the job's manifest as
	// written (CmdJobManifest); zero until then. Only done jobs get one.
	ManifestAt time.Time `json:"manifest_at,omitzero"`
	// Paused jobs get no new leases (CmdJobPause); running shards finish.
	Paused bool `json:"paused,omitempty"`
	// PriorityOverride is the priority set by CmdJobPriority (nil: the
	// spec's; see EffectivePriority).
	PriorityOverride *int `json:"priority_override,omitempty"`
	// Retries counts the job's CmdJobRetry commands.
	Retries int `json:"retries,omitempty"`
	// StartedAt is when the current run leased its first shard: the first
	// lease after submit, or after a retry of a finished job; zero before
	// that, and in state written before the field existed. StartedImages
	// is ImagesDone at that lease, so a rate over the run (the dashboard's
	// img/s and ETA) counts neither queueing nor an earlier run's images.
	// Both are derived from TaskAssign.At, so every replica agrees; they
	// are additive JSON fields, so the snapshot version stays (an older
	// snapshot reads as zero, an older coordinator ignores them).
	StartedAt     time.Time `json:"started_at,omitzero"`
	StartedImages int64     `json:"started_images,omitempty"`
	// RunSince is when the current run began: the submit, or the retry of
	// a finished job (from the command's At, so every replica agrees).
	// Spec.Timeout counts from it; zero in state written before the field
	// existed, which counts from CreatedAt.
	RunSince time.Time `json:"run_since,omitzero"`
}

// Bounds of JobSpec.Timeout.
const (
	MinJobTimeout = time.Second
	MaxJobTimeout = 366 * 24 * time.Hour
)

// TimeoutDuration is Spec.Timeout parsed (0: none, or not valid).
func (s JobSpec) TimeoutDuration() time.Duration {
	if s.Timeout == "" || len(s.Timeout) > 32 {
		return 0
	}
	d, err := time.ParseDuration(s.Timeout)
	if err != nil || d < MinJobTimeout || d > MaxJobTimeout {
		return 0
	}
	return d
}

// TimeoutAt is when the job's current run times out (zero: no timeout).
func (j Job) TimeoutAt() time.Time {
	d := j.Spec.TimeoutDuration()
	if d == 0 {
		return time.Time{}
	}
	since := j.RunSince
	if since.IsZero() {
		since = j.CreatedAt
	}
	return since.Add(d)
}
