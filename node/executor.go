package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// PipelineConfig configures the real executor. Zero fields get defaults.
type PipelineConfig struct {
	// Backend computes the models (default: the CPU backend, all cores).
	// One executor per backend: on a multi-GPU node give each slot its
	// own executor (Config.Executors).
	Backend kernels.Backend
	// Models resolves job models (default: a ModelResolver from the
	// environment, as `sanafarm generate` does).
	Models *ModelResolver
	// OpenStore opens output URLs (default storage.Open).
	OpenStore StoreOpener
	// OpenPrompts opens a job's prompts (default storage.NewPromptReader).
	OpenPrompts PromptOpener
	// BatchSize is the number of samples denoised together (default 1).
	BatchSize int
	// Resident is how many loaded pipelines are kept (LRU, default 1).
	Resident int
	// Node is recorded in provenance and stats.
	Node string
	// Logger receives load and task logs (default: discard).
	Logger *slog.Logger
}

// PipelineExecutor runs tasks on the Sana pipeline (model/sana), keeping
// recently used pipelines loaded, and writes shards in the "files" format.
// Sample i of a job gets the noise of rng.SampleSeed(spec.Seed, i) and
// prompt i / images_per_prompt, so its pixels equal those of image i of
// `sanafarm generate` with the same seed, prompts and settings.
type PipelineExecutor struct {
	cfg   PipelineConfig
	log   *slog.Logger
	cache *pipelineCache
}

var (
	_ Executor    = (*PipelineExecutor)(nil)
	_ ModelLister = (*PipelineExecutor)(nil)
)

// NewPipelineExecutor fills in cfg's defaults.
func NewPipelineExecutor(cfg PipelineConfig) *PipelineExecutor {
	if cfg.Backend == nil {
		cfg.Backend = cpu.New(cpu.Config{})
	}
	if cfg.Models == nil {
		cfg.Models = &ModelResolver{}
	}
	if cfg.OpenStore == nil {
		cfg.OpenStore = func(ctx context.Context, url string) (ObjectStore, error) { return storage.Open(ctx, url) }
	}
	if cfg.OpenPrompts == nil {
		cfg.OpenPrompts = func(_ context.Context, src protocol.PromptSource) (PromptSource, error) {
			return storage.NewPromptReader(src)
		}
	}
	cfg.BatchSize = max(cfg.BatchSize, 1)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &PipelineExecutor{cfg: cfg, log: cfg.Logger}
	e.cache = newPipelineCache(max(cfg.Resident, 1), e.load)
	return e
}

// Models lists the resident models, most recently used first.
func (e *PipelineExecutor) Models() []string { return e.cache.names() }

// Close unloads every pipeline.
func (e *PipelineExecutor) Close() error { return e.cache.close() }

func (e *PipelineExecutor) load(ctx context.Context, spec protocol.JobSpec) (*resident, error) {
	m, err := e.cfg.Models.Resolve(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("resolving model %s: %w", spec.Model, err)
	}
	start := time.Now()
	p, err := sana.Load(ctx, osDirFS(m.Dir), sana.Options{Backend: e.cfg.Backend, Variant: m.Variant,
		Tokenizer: sana.LoadTokenizer, Logger: e.log, Origin: m.Origin})
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", m.Dir, err)
	}
	e.log.Info("model loaded", "model", m.Name, "dir", m.Dir, "seconds", time.Since(start).Seconds())
	return &resident{model: m, p: p, loadTime: time.Since(start)}, nil
}

// Execute generates the task's samples, writes them and the shard stats.
func (e *PipelineExecutor) Execute(ctx context.Context, a protocol.Assignment, progress func(done int)) (protocol.ShardInfo, error) {
	start := time.Now()
	spec := a.Spec
	if f := spec.Output.Format; f != "" && f != storage.FormatFiles {
		return protocol.ShardInfo{}, fmt.Errorf("output format %s is %w (use files)", f, storage.ErrNotSupported)
	}
	prompts, err := e.prompts(ctx, a)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	res, loaded, err := e.cache.acquire(ctx, spec)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	defer e.cache.release(res)
	store, err := e.cfg.OpenStore(ctx, spec.Output.URL)
	if err != nil {
		return protocol.ShardInfo{}, fmt.Errorf("opening output %s: %w", spec.Output.URL, err)
	}
	defer store.Close()
	run := &shardRun{e: e, a: a, res: res, prompts: prompts, w: storage.NewFilesWriter(store, "", a.Task.Shard),
		timings: map[string]float64{}}
	if loaded {
		run.timings["load"] = res.loadTime.Seconds()
	}
	if err := run.generate(ctx, progress); err != nil {
		return protocol.ShardInfo{}, err
	}
	return run.finish(ctx, start)
}

// prompts returns one prompt per sample of the task.
func (e *PipelineExecutor) prompts(ctx context.Context, a protocol.Assignment) ([]string, error) {
	m := int64(max(a.Spec.ImagesPerPrompt, 1))
	if a.Task.Start < 0 || a.Task.End <= a.Task.Start {
		return nil, fmt.Errorf("task %s has no samples [%d, %d)", a.Task.TaskKey, a.Task.Start, a.Task.End)
	}
	src, err := e.cfg.OpenPrompts(ctx, a.Spec.Prompts)
	if err != nil {
		return nil, err
	}
	first := a.Task.Start / m
	rows, err := src.Read(ctx, first, (a.Task.End-1)/m+1)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, a.Task.End-a.Task.Start)
	for i := a.Task.Start; i < a.Task.End; i++ {
		out = append(out, rows[i/m-first])
	}
	return out, nil
}

// sampleSeedStride is the odd constant rng.SampleSeed steps the job seed
// by per sample: SampleSeed(s + k·stride, i) = SampleSeed(s, k+i), which
// lets a request whose samples start at job sample k use the request seed
// s + k·stride (checked by TestSeedShift).
const sampleSeedStride = 0x9e3779b97f4a7c15

// requestSeed is the sana.Request seed whose sample 0 is job sample first.
func requestSeed(jobSeed uint64, first int64) uint64 {
	return jobSeed + uint64(first)*sampleSeedStride
}

// provenance is the PNG "parameters" chunk, as `sanafarm generate` writes.
type provenance struct {
	sana.Params
	Preset   string `json:"preset,omitempty"`
	Repo     string `json:"repo,omitempty"`
	Revision string `json:"revision,omitempty"`
}

// sampleMeta is a sample's <key>.json.
type sampleMeta struct {
	provenance
	Job        protocol.JobID     `json:"job"`
	Shard      int                `json:"shard"`
	SampleSeed uint64             `json:"sample_seed"`
	Node       string             `json:"node,omitempty"`
	Timings    map[string]float64 `json:"timings,omitempty"`
}

func encodePNG(img sana.Image, m Model) ([]byte, error) {
	meta := provenance{Params: img.Params}
	if m.IsPreset {
		meta.Preset, meta.Repo, meta.Revision = m.Preset.Name, m.Preset.Repo, m.Preset.Revision
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = sana.EncodePNG(&buf, img.Image, map[string]string{"parameters": string(js), "Software": "sanafarm"})
	return buf.Bytes(), err
}
