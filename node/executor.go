package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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
	// Allow is where jobs may read prompt files (Read) and write outputs
	// (Write); both openers are wrapped to refuse anything else. The zero
	// value refuses every prompt file and output (see guardOpeners).
	Allow protocol.Access
	// BatchSize is the number of samples denoised together; 0 chooses it
	// per request from the backend's free memory (node/batchsize.go; 1 on
	// backends that do not report it, like the CPU).
	BatchSize int
	// Resident is how many loaded pipelines are kept (LRU, default 1).
	Resident int
	// Node is recorded in provenance and stats.
	Node string
	// GPU is the device model recorded in provenance and stats
	// (sanafarm node sets the GPU's name, or "cpu" on the CPU backend).
	GPU string
	// GPUUUID is the device's NVML UUID recorded in provenance ("" on the
	// CPU backend or without NVML), so an image names the exact card.
	GPUUUID string
	// StorePatience is how long a shard keeps trying its uploads and its
	// reads of prompts and inputs through a store outage before it fails
	// (default DefaultStorePatience; patient.go).
	StorePatience time.Duration
	// Logger receives load and task logs (default: discard).
	Logger *slog.Logger
	// Metrics records stage, shard and upload timings (nil: none).
	Metrics *Metrics
}

// PipelineExecutor runs tasks on the Sana pipeline (model/sana), keeping
// recently used pipelines loaded, and writes shards in the job's output
// format ("files" or "webdataset").
// Sample i of a job gets the noise of rng.SampleSeed(spec.Seed, i) and
// prompt i / images_per_prompt, so its pixels equal those of image i of
// `sanafarm generate` with the same seed, prompts and settings.
type PipelineExecutor struct {
	cfg      PipelineConfig
	log      *slog.Logger
	cache    *pipelineCache
	facts    factsCache
	allow    protocol.Access // cfg.Allow with symlinks resolved (guardOpeners)
	adapters adapterCache

	retryBase         time.Duration // the first wait of patience (tests shorten it)
	patiences         sync.Map      // protocol.TaskAttempt → *patience of a running shard (patient.go)
	generated, reused atomic.Int64
	staged            sync.Map // stagedKey → true: attempts with staged objects
	intact            sync.Map // model folder → true: verified after a failed load (cacheverify.go)
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
	cfg.Metrics.watchModels(cfg.Models)
	if cfg.OpenStore == nil {
		log := cfg.Logger
		cfg.OpenStore = func(ctx context.Context, url string) (ObjectStore, error) { return storage.OpenLogged(ctx, url, log) }
	}
	if cfg.OpenPrompts == nil {
		cfg.OpenPrompts = func(_ context.Context, src protocol.PromptSource) (PromptSource, error) {
			return storage.NewPromptReader(src)
		}
	}
	allow := guardOpeners(&cfg)
	cfg.BatchSize = max(cfg.BatchSize, 0)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &PipelineExecutor{cfg: cfg, log: cfg.Logger, allow: allow}
	e.cache = newPipelineCache(max(cfg.Resident, 1), e.load)
	return e
}

// Models lists the resident pipelines, most recently used first, by
// protocol.JobSpec.VariantKey: the model name, or the model + "+" + a hash
// of its fused LoRA set or NVlabs files.
func (e *PipelineExecutor) Models() []string { return e.cache.names() }

// Close unloads every pipeline.
func (e *PipelineExecutor) Close() error { return e.cache.close() }

// load loads the spec's pipeline with its inputs' LoRAs fused (and the
// encoder when it has an init image).
func (e *PipelineExecutor) load(ctx context.Context, spec protocol.JobSpec, in *jobInputs) (*resident, error) {
	start := time.Now()
	opts := in.loadOptions(sana.Options{Backend: e.cfg.Backend, Variant: spec.Variant, Tokenizer: sana.LoadTokenizer, Logger: e.log})
	if in.nvlabs != nil {
		p, m, err := e.loadNVlabs(ctx, spec, in, opts)
		if err != nil {
			return nil, err
		}
		e.log.Info("NVlabs model loaded", "config", spec.Config, "checkpoint", spec.Checkpoint, "loras", len(spec.LoRAs),
			"seconds", time.Since(start).Seconds())
		return &resident{model: m, variant: spec.VariantKey(), p: p, loadTime: time.Since(start)}, nil
	}
	m, err := e.cfg.Models.Resolve(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("resolving model %s: %w", spec.Model, err)
	}
	opts.Variant, opts.Origin = m.Variant, m.Origin
	p, err := sana.Load(ctx, osDirFS(m.Dir), opts)
	if err != nil {
		return nil, e.checkCache(ctx, m.Dir, fmt.Errorf("loading %s: %w", m.Dir, err))
	}
	e.log.Info("model loaded", "model", m.Name, "dir", m.Dir, "loras", len(spec.LoRAs), "seconds", time.Since(start).Seconds())
	return &resident{model: m, variant: spec.VariantKey(), p: p, loadTime: time.Since(start)}, nil
}

// resolve returns the spec's model and the facts its request hash and
// provenance record: a resolved folder's weights, or an NVlabs job's
// config and checkpoint.
func (e *PipelineExecutor) resolve(ctx context.Context, spec protocol.JobSpec, in *jobInputs) (Model, *modelFacts, error) {
	if in.nvlabs != nil {
		return nvlabsModel(spec, nil), in.nvlabs.facts, nil
	}
	m, err := e.cfg.Models.Resolve(ctx, spec)
	if err != nil {
		return m, nil, fmt.Errorf("resolving model %s: %w", spec.Model, err)
	}
	facts, err := e.facts.get(ctx, m.Dir)
	return m, facts, err
}

// Execute generates the task's samples, writes them and the shard stats
// under the attempt's staging folder (storage.AttemptPrefix): nothing is
// visible until the leader has accepted the attempt and Publish (or the
// leader, before the job manifest) copies them to their final keys.
// A shard whose stats already exist for the same request hash and verify
// against the stored objects (size and SHA-256) is not generated again:
// its recorded result is returned (ShardInfo.Reused), which is how
// re-submitting a job to the same output resumes it.
func (e *PipelineExecutor) Execute(ctx context.Context, a protocol.Assignment, progress func(done int)) (protocol.ShardInfo, error) {
	// Refuse a job outside the allow-lists before anything else: resolving
	// its model may download gigabytes for a job that is refused anyway.
	if err := e.allow.CheckSpec(a.Spec); err != nil {
		return protocol.ShardInfo{}, err
	}
	_, forget := e.patienceFor(a) // one store patience for the whole shard (patient.go)
	defer forget()
	if a.Ranks > 1 {
		return e.executeRank(ctx, a, progress)
	}
	start := time.Now()
	spec := a.Spec
	format := pick(spec.Output.Format, storage.FormatFiles)
	if format != storage.FormatFiles && format != storage.FormatWebDataset {
		return protocol.ShardInfo{}, fmt.Errorf("output format %q: want %s or %s", format, storage.FormatFiles, storage.FormatWebDataset)
	}
	rows, in, err := e.shardInputs(ctx, a)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	m, facts, err := e.resolve(ctx, spec, in)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	progress(0) // the model is here: from now on a missing image means a stall (task.go)
	var store ObjectStore
	pat, _ := e.patienceFor(a)
	err = pat.do(ctx, "opening the output", func() error { // patient.go
		store, err = e.cfg.OpenStore(ctx, spec.Output.URL)
		return err
	})
	if err != nil {
		return protocol.ShardInfo{}, fmt.Errorf("opening output %s: %w", spec.Output.URL, err)
	}
	defer store.Close()
	plan := newPlan(a, rows, m, facts, in)
	hash := shardHash(format, a.Task, plan.hashes())
	if info, ok := e.reuse(ctx, store, a, hash, start); ok {
		e.cfg.Metrics.shardDone("reused")
		progress(info.Images)
		return info, nil
	}
	return e.generate(ctx, a, store, format, plan, hash, progress, start)
}

// generate writes the shard from scratch under its attempt's staging
// folder (stage); Publish makes it visible once the leader accepts it.
func (e *PipelineExecutor) generate(ctx context.Context, a protocol.Assignment, store ObjectStore, format string,
	plan *shardPlan, hash string, progress func(int), start time.Time) (protocol.ShardInfo, error) {
	res, loaded, err := e.cache.acquire(ctx, a.Spec, plan.inputs)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	defer e.cache.release(res)
	w, err := storage.NewShardWriter(e.stagePatient(store, a), format, "", a.Task.Shard)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	defer w.Abort()
	run := &shardRun{e: e, a: a, res: res, plan: plan, w: w, hash: hash, timings: map[string]float64{}}
	if loaded {
		run.timings["load"] = res.loadTime.Seconds()
	}
	if err := run.generate(ctx, progress); err != nil {
		return protocol.ShardInfo{}, err
	}
	info, err := run.finish(ctx, start)
	if err == nil {
		e.generated.Add(1)
	}
	return info, err
}

// reuse returns the recorded result of a shard that is already complete
// and verified for this request hash.
func (e *PipelineExecutor) reuse(ctx context.Context, store ObjectStore, a protocol.Assignment, hash string, start time.Time) (protocol.ShardInfo, bool) {
	log := e.log.With("job_id", a.Task.Job, "shard", a.Task.Shard, "node_id", e.cfg.Node)
	st, err := storage.VerifyShard(ctx, store, "", a.Task.Shard, hash)
	if err != nil {
		if errors.Is(err, storage.ErrShardIncomplete) {
			log.Debug("shard (re)generated", "reason", err)
		} else {
			log.Warn("checking for a finished shard", "err", err)
		}
		return protocol.ShardInfo{}, false
	}
	e.reused.Add(1)
	log.Info("shard already complete, reused", "attempt", a.Task.Attempt, "written_by_attempt", st.Attempt)
	objects := make([]string, 0, len(st.Files)+1)
	for _, f := range st.Files {
		objects = append(objects, f.Key)
	}
	objects = append(objects, storage.StatsKey("", a.Task.Shard))
	return protocol.ShardInfo{Node: e.cfg.Node, Images: st.Images, Failed: st.Failed, Bytes: st.Bytes,
		Objects: objects, Seconds: time.Since(start).Seconds(), Reused: true}.Compact(), true
}

// Counts returns how many shards this executor generated and how many it
// found complete and reused.
func (e *PipelineExecutor) Counts() (generated, reused int64) {
	return e.generated.Load(), e.reused.Load()
}

// shardInputs reads the task's prompt rows and the job's inputs (LoRAs,
// init and control images, a column's per-row images), with patience
// through an outage of the store they come from (patient.go).
func (e *PipelineExecutor) shardInputs(ctx context.Context, a protocol.Assignment) (rows []storage.PromptRow, in *jobInputs, err error) {
	p, _ := e.patienceFor(a)
	if err = p.do(ctx, "reading the prompts", func() error { rows, err = e.prompts(ctx, a); return err }); err != nil {
		return nil, nil, err
	}
	if err = p.do(ctx, "reading the job's inputs", func() error { in, err = e.readInputs(ctx, a.Spec); return err }); err != nil {
		return nil, nil, err
	}
	err = p.do(ctx, "reading the rows' images", func() error { return e.readRowImages(ctx, in, rows, a.Task.Start) })
	return rows, in, err
}

// prompts returns one prompt row per sample of the task.
func (e *PipelineExecutor) prompts(ctx context.Context, a protocol.Assignment) ([]storage.PromptRow, error) {
	m := int64(max(a.Spec.ImagesPerPrompt, 1))
	if a.Task.Start < 0 || a.Task.End <= a.Task.Start {
		return nil, fmt.Errorf("task %s has no samples [%d, %d)", a.Task.TaskKey, a.Task.Start, a.Task.End)
	}
	src, err := e.cfg.OpenPrompts(ctx, a.Spec.Prompts)
	if err != nil {
		return nil, err
	}
	first := a.Task.Start / m
	rows, err := src.ReadRows(ctx, first, (a.Task.End-1)/m+1)
	if err != nil {
		return nil, err
	}
	out := make([]storage.PromptRow, 0, a.Task.End-a.Task.Start)
	for i := a.Task.Start; i < a.Task.End; i++ {
		out = append(out, rows[i/m-first])
	}
	format := pick(a.Spec.Output.Format, storage.FormatFiles)
	if err := storage.CheckStatsFit(format, a.Task.Shard, a.Task.Start, out); err != nil { // fail now, not after the shard's images
		return nil, fmt.Errorf("task %s: %w", a.Task.TaskKey, err)
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
	inputProvenance
}

func encodePNG(img sana.Image, m Model, in inputProvenance) ([]byte, error) {
	meta := provenance{Params: img.Params, inputProvenance: in}
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
