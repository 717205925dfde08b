package node

import (
	"context"
	"io/fs"
	"os"
	"time"

	"github.com/sanafarm/sanafarm/model/rng"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

func osDirFS(dir string) fs.FS { return os.DirFS(dir) }

// planned is one sample of a shard: its prompt row and the noise it
// draws, rng.SampleSeed(base, k): base is the job seed and k the sample
// index, or a row's own seed and k the image index within the row.
type planned struct {
	index    int64
	row      storage.PromptRow
	negative string
	base     uint64
	k        int64
	hash     string
	init     string // the row's init image URL (JobSpec.InitImageColumn)
	initSHA  string
	// control is the row's control image URL (JobSpec.ControlImageColumn).
	control    string
	controlSHA string
}

// shardPlan is a shard's samples with the request they share.
type shardPlan struct {
	base    sana.Request // defaults applied; no prompts, seed or negative
	model   Model
	facts   *modelFacts
	inputs  *jobInputs
	samples []planned
}

// newPlan resolves every sample's prompt, negative prompt, noise and
// request hash.
func newPlan(a protocol.Assignment, rows []storage.PromptRow, m Model, facts *modelFacts, in *jobInputs) *shardPlan {
	p := &shardPlan{base: baseRequest(a.Spec, m, in), model: m, facts: facts, inputs: in}
	per := int64(max(a.Spec.ImagesPerPrompt, 1))
	for j, row := range rows {
		i := a.Task.Start + int64(j)
		s := planned{index: i, row: row, negative: pick(row.NegativePrompt, a.Spec.NegativePrompt), base: a.Spec.Seed, k: i}
		if row.Seed != nil {
			s.base, s.k = *row.Seed, i%per
		}
		in.rowInputs(&s, row)
		s.hash = p.request(s).hash()
		p.samples = append(p.samples, s)
	}
	return p
}

func (p *shardPlan) request(s planned) genRequest {
	g := genRequest{Model: p.model.Name, Variant: p.model.Variant, Weights: p.facts.weightHashes(),
		Scheduler: p.facts.Scheduler, CHI: chiSHA256, Prompt: s.row.Prompt, Negative: s.negative,
		NoiseSeed: rng.SampleSeed(s.base, int(s.k)), Width: p.base.Width, Height: p.base.Height,
		Steps: p.base.Steps, Guidance: p.base.Guidance, Sampler: p.base.Sampler}
	if p.model.IsPreset {
		g.Repo, g.Revision = p.model.Preset.Repo, p.model.Preset.Revision
	}
	p.inputs.addTo(&g)
	if s.initSHA != "" {
		g.InitImage = s.initSHA
	}
	if s.controlSHA != "" {
		g.ControlImage = s.controlSHA
	}
	return g
}

func (p *shardPlan) hashes() []string {
	out := make([]string, len(p.samples))
	for i, s := range p.samples {
		out[i] = s.hash
	}
	return out
}

// batch returns how many samples from samples[0] can be denoised in one
// request: same noise base, negative prompt, init and control image,
// consecutive k.
func batch(samples []planned, size int) int {
	n := 1
	for n < min(size, len(samples)) {
		s, f := samples[n], samples[0]
		if s.base != f.base || s.negative != f.negative || s.k != f.k+int64(n) || s.init != f.init || s.control != f.control {
			break
		}
		n++
	}
	return n
}

// baseRequest is the sana.Request of a job, with the same defaults
// `sanafarm generate` applies for a preset.
func baseRequest(s protocol.JobSpec, m Model, in *jobInputs) sana.Request {
	q := sana.Request{Width: s.Width, Height: s.Height, Steps: s.Steps, Guidance: s.Guidance, Sampler: s.Sampler,
		ImagesPerPrompt: 1, InitImage: in.initImage, InitImageSource: in.initSource, Strength: in.strength, PAG: in.pag}
	in.control.requestFields(&q)
	if in.nvlabs != nil {
		if q.Width == 0 && q.Height == 0 {
			q.Width, q.Height = in.nvlabs.size, in.nvlabs.size
		}
		q.Steps = pickInt(q.Steps, nvlabsSteps)
		if q.Guidance == 0 {
			q.Guidance = nvlabsGuidance
		}
	}
	if m.IsPreset {
		if q.Width == 0 && q.Height == 0 {
			q.Width, q.Height = m.Preset.Size, m.Preset.Size
		}
		q.Steps = pickInt(q.Steps, m.Preset.Steps)
		if q.Guidance == 0 {
			q.Guidance = m.Preset.Guidance
		}
	}
	q.Width = pickInt(q.Width, q.Height)
	q.Height = pickInt(q.Height, q.Width)
	return q
}

// shardRun is one Execute call's state.
type shardRun struct {
	e       *PipelineExecutor
	a       protocol.Assignment
	res     *resident
	plan    *shardPlan
	w       storage.ShardWriter
	hash    string
	timings map[string]float64
	// gen replaces the resident pipeline's Generate (tests).
	gen func(context.Context, sana.Request) (*sana.Result, error)
}

// generate runs the samples in batches. A writer goroutine encodes and
// writes one batch's PNGs while the pipeline computes the next, so the
// accelerator never waits on PNG encoding or uploads
// (docs/performance.md); at most one finished batch waits for the writer,
// which bounds the images held in memory. The first error of either side
// stops both.
func (r *shardRun) generate(ctx context.Context, progress func(int)) error {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queue := make(chan doneBatch, 1)
	werr := make(chan error, 1)
	var wrote time.Duration
	go func() {
		var err error
		wrote, err = r.writeBatches(wctx, queue, progress)
		if err != nil {
			cancel(err)
		}
		werr <- err
	}()
	gerr := r.produce(wctx, queue)
	close(queue)
	err := <-werr
	r.timings["write"] += wrote.Seconds()
	if err != nil {
		return err
	}
	return gerr
}

// doneBatch is a generated batch on its way to the writer.
type doneBatch struct {
	off   int // index of the batch's first sample in the plan
	group []planned
	res   *sana.Result
}

// produce generates the plan's batches into queue.
func (r *shardRun) produce(ctx context.Context, queue chan<- doneBatch) error {
	samples := r.plan.samples
	size := r.e.batchSize(r.plan.base)
	for off := 0; off < len(samples); {
		k := batch(samples[off:], size)
		group := samples[off : off+k]
		q, err := r.request(ctx, group)
		if err != nil {
			return err
		}
		gen := r.gen
		if gen == nil {
			gen = r.res.p.Generate
		}
		res, err := gen(ctx, q)
		if err != nil {
			return err
		}
		r.timings["encode"] += res.Timings.Encode.Seconds()
		r.timings["denoise"] += res.Timings.Denoise.Seconds()
		r.timings["decode"] += res.Timings.Decode.Seconds()
		m := r.e.cfg.Metrics
		m.observeStage(stageEncode, res.Timings.Encode)
		m.observeStage(stageDenoise, res.Timings.Denoise)
		m.observeStage(stageDecode, res.Timings.Decode)
		m.stepModes(res.Timings.GraphSteps, res.Timings.EagerSteps)
		select {
		case queue <- doneBatch{off: off, group: group, res: res}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		off += k
	}
	return nil
}

// writeBatches writes every queued batch's images in order and reports
// progress; it returns the time spent encoding and writing.
func (r *shardRun) writeBatches(ctx context.Context, queue <-chan doneBatch, progress func(int)) (time.Duration, error) {
	var spent time.Duration
	for b := range queue {
		for j, img := range b.res.Images {
			t0 := time.Now()
			err := r.write(ctx, b.group[j], img, b.res.Timings, len(b.group))
			spent += time.Since(t0)
			if err != nil {
				return spent, err
			}
			// Counted here, as each image is stored, so images/s is smooth
			// (the coordinator's images_done_total moves per shard); a
			// parallel job's other ranks discard theirs (executor_parallel.go).
			r.e.cfg.Metrics.observeStage(stageWrite, time.Since(t0))
			if r.a.Rank == 0 {
				r.e.cfg.Metrics.imageWritten()
			}
			progress(b.off + j + 1)
		}
	}
	return spent, nil
}

// request is the sana.Request of a batch of samples: its noise starts at
// rng.SampleSeed(base, k) of the first, and its init and control images
// are the group's row images (batch keeps one of each per group).
func (r *shardRun) request(ctx context.Context, group []planned) (sana.Request, error) {
	q := r.plan.base
	q.Prompts = make([]string, len(group))
	for i, s := range group {
		q.Prompts[i] = s.row.Prompt
	}
	q.NegativePrompt, q.Seed, q.BatchSize = group[0].negative, requestSeed(group[0].base, group[0].k), len(group)
	if step := r.e.cfg.Metrics.stepTimer(); step != nil {
		q.Progress = func(sana.Progress) { step() }
	}
	if s := group[0]; s.init != "" {
		img, err := r.e.loadRowImage(ctx, fieldInitColumn, s.init, s.initSHA)
		if err != nil {
			return q, err
		}
		q.InitImage, q.InitImageSource = img, s.init
	}
	if s := group[0]; s.control != "" {
		img, err := r.e.loadRowImage(ctx, fieldControlColumn, s.control, s.controlSHA)
		if err != nil {
			return q, err
		}
		q.ControlImage, q.ControlImageSource = img, s.control
	}
	return q, nil
}

func pickInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// write stores a sample (its Params rewritten to its seed and index).
func (r *shardRun) write(ctx context.Context, s planned, img sana.Image, t sana.Timings, batch int) error {
	img.Params.Seed, img.Params.Index, img.Params.SampleSeed = s.base, int(s.k), rng.SampleSeed(s.base, int(s.k))
	png, err := encodePNG(img, r.res.model, r.inputProvenance(s))
	if err != nil {
		return err
	}
	b := img.Image.Bounds()
	defer func(t0 time.Time) { r.e.cfg.Metrics.observeUpload("sample", time.Since(t0)) }(time.Now())
	err = r.w.Write(ctx, storage.Sample{Index: s.index, Prompt: img.Prompt, PNG: png, Meta: r.meta(s, img, t, batch),
		Seed: img.Params.SampleSeed, Width: b.Dx(), Height: b.Dy(), ID: s.row.ID, Extra: s.row.Extra,
		Steps: img.Params.Steps, Guidance: img.Params.Guidance, Sampler: img.Params.Sampler})
	return err
}

// meta is a sample's full provenance.
func (r *shardRun) meta(s planned, img sana.Image, t sana.Timings, batch int) sampleMeta {
	m, f := r.res.model, r.plan.facts
	meta := sampleMeta{provenance: provenance{Params: img.Params, inputProvenance: r.inputProvenance(s)}, Job: r.a.Task.Job, Shard: r.a.Task.Shard,
		SampleSeed: rng.SampleSeed(s.base, int(s.k)), ID: s.row.ID, Extra: s.row.Extra,
		ModelInfo:     modelProvenance{Origin: m.Origin, Variant: m.Variant, Weights: f.Weights},
		SamplerConfig: f.Scheduler, DType: f.dtypes(), RequestHash: s.hash,
		PromptTemplate: promptTemplate{ComplexHumanInstruction: true, SHA256: chiSHA256},
		Node:           r.e.cfg.Node, GPU: r.e.cfg.GPU, GPUUUID: r.e.cfg.GPUUUID, Attempt: r.a.Task.Attempt,
		Timings: map[string]float64{"encode": t.Encode.Seconds() / float64(batch),
			"denoise": t.Denoise.Seconds() / float64(batch), "decode": t.Decode.Seconds() / float64(batch)}}
	if m.IsPreset {
		meta.Preset, meta.Repo, meta.Revision = m.Preset.Name, m.Preset.Repo, m.Preset.Revision
		meta.ModelInfo.Repo, meta.ModelInfo.Revision = m.Preset.Repo, m.Preset.Revision
	}
	return meta
}

// inputProvenance is what samples record of the job's inputs beyond
// their Params.
func (r *shardRun) inputProvenance(s planned) inputProvenance {
	in := r.plan.inputs
	p := inputProvenance{InitImageSHA256: pick(s.initSHA, in.initSHA256), NVlabs: r.res.model.NVlabs}
	p.ControlImageSHA256, p.ControlNetWeights = in.control.provenance(s.controlSHA)
	return p
}

// revision is the model's pinned Hub revision ("" for local models).
func (r *shardRun) revision() string {
	if r.res.model.IsPreset {
		return r.res.model.Preset.Revision
	}
	return ""
}

// finish writes the stats (last) and returns the shard's result.
func (r *shardRun) finish(ctx context.Context, start time.Time) (protocol.ShardInfo, error) {
	t0 := time.Now()
	st, err := r.w.Finish(ctx, storage.ShardStats{Job: string(r.a.Task.Job), Attempt: r.a.Task.Attempt,
		Node: r.e.cfg.Node, GPU: r.e.cfg.GPU, Backend: r.res.p.Backend().Name(), Model: r.res.model.Origin,
		Revision: r.revision(), RequestHash: r.hash, Start: r.a.Task.Start, End: r.a.Task.End, Seconds: time.Since(start).Seconds(),
		Timings: r.timings})
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	m := r.e.cfg.Metrics
	m.observeUpload("finish", time.Since(t0))
	m.observeShard(time.Since(start) - time.Duration(r.timings["load"]*float64(time.Second)))
	if r.a.Rank == 0 {
		m.shardDone("done")
	}
	// Reported compact (count + digest of every key, no keys): the
	// coordinators keep nothing more per shard (docs/architecture.md,
	// "Bounded state"), and the report stays small however big the shard.
	return protocol.ShardInfo{Node: r.e.cfg.Node, Images: st.Images, Bytes: st.Bytes, Objects: r.w.Objects(),
		Seconds: time.Since(start).Seconds() - r.timings["load"]}.Compact(), nil
}
