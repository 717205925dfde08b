package node

import (
	"context"
	"fmt"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/shard"
	"github.com/sanafarm/sanafarm/storage"
)

// executeRank runs one rank of a gang assignment (a.Ranks > 1) over the
// transport in ctx (WithGroup): the same shard plan, requests and seeds as
// Execute, with the transformer split over the group by the job's plan
// (shard.NewModel). Every rank computes every image; only rank 0 writes
// the shard. Every rank checks for a finished shard first, so a resumed
// shard is reused by all of them without computing.
//
// The parallel pipeline is loaded for this group and closed after it
// (its transformer is bound to the group's transport), never kept
// resident; the single-rank cache is untouched.
func (e *PipelineExecutor) executeRank(ctx context.Context, a protocol.Assignment, progress func(done int)) (protocol.ShardInfo, error) {
	start := time.Now()
	t, ok := GroupFrom(ctx)
	if !ok || t.Size() != a.Ranks || t.Rank() != a.Rank {
		return protocol.ShardInfo{}, fmt.Errorf("rank %d of %d: no matching gang transport", a.Rank, a.Ranks)
	}
	plan, err := shard.ParsePlan(a.Spec.Parallel)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	if plan.Degree != a.Ranks {
		return protocol.ShardInfo{}, fmt.Errorf("parallel %s on a gang of %d ranks", plan, a.Ranks)
	}
	if s := a.Spec; len(s.LoRAs) > 0 || s.ImageToImage() || s.Config != "" {
		// protocol.JobSpec.Validate refuses these; a spec from an older
		// coordinator is refused here rather than run without them.
		return protocol.ShardInfo{}, fmt.Errorf("parallel %s jobs take no loras, init images or config yet", s.Parallel)
	}
	format := pick(a.Spec.Output.Format, storage.FormatFiles)
	rows, err := e.prompts(ctx, a)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	m, err := e.cfg.Models.Resolve(ctx, a.Spec)
	if err != nil {
		return protocol.ShardInfo{}, fmt.Errorf("resolving model %s: %w", a.Spec.Model, err)
	}
	facts, err := e.facts.get(ctx, m.Dir)
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	progress(0) // arms the stall watchdog (task.go)
	store, err := e.cfg.OpenStore(ctx, a.Spec.Output.URL)
	if err != nil {
		return protocol.ShardInfo{}, fmt.Errorf("opening output %s: %w", a.Spec.Output.URL, err)
	}
	defer store.Close()
	sp := newPlan(a, rows, m, facts, &jobInputs{})
	hash := shardHash(format, a.Task, sp.hashes())
	if info, ok := e.reuse(ctx, store, a, hash, start); ok {
		progress(info.Images)
		return info, nil
	}
	return e.generateRank(ctx, a, rankSetup{store: store, format: format, plan: sp, hash: hash, model: m, parallel: plan, t: t}, progress, start)
}

// rankSetup is what executeRank prepared for generateRank.
type rankSetup struct {
	store    ObjectStore
	format   string
	plan     *shardPlan
	hash     string
	model    Model
	parallel shard.Plan
	t        shard.Transport
}

// generateRank loads the group's pipeline and generates the shard; rank 0
// writes it (staged, as Execute does), the others discard their
// (identical) images.
func (e *PipelineExecutor) generateRank(ctx context.Context, a protocol.Assignment, s rankSetup, progress func(int), start time.Time) (protocol.ShardInfo, error) {
	t0 := time.Now()
	p, err := sana.Load(ctx, osDirFS(s.model.Dir), sana.Options{Backend: e.cfg.Backend, Variant: s.model.Variant,
		Tokenizer: sana.LoadTokenizer, Logger: e.log, Origin: s.model.Origin,
		Transformer: func(cfg dit.Config, w *dit.Weights, be kernels.Backend) (sana.Transformer, error) {
			if err := s.parallel.Check(cfg); err != nil {
				return nil, err
			}
			return shard.NewModel(s.parallel.Mode, cfg, w, be, s.t)
		}})
	if err != nil {
		s.t.Abort(err)
		return protocol.ShardInfo{}, e.checkCache(ctx, s.model.Dir, fmt.Errorf("loading %s for parallel %s: %w", s.model.Dir, s.parallel, err))
	}
	defer p.Close()
	res := &resident{model: s.model, p: p, loadTime: time.Since(t0)}
	var w storage.ShardWriter = &discardWriter{}
	if a.Rank == 0 {
		if w, err = storage.NewShardWriter(e.stagePatient(s.store, a), s.format, "", a.Task.Shard); err != nil {
			s.t.Abort(err)
			return protocol.ShardInfo{}, err
		}
	}
	defer w.Abort()
	run := &shardRun{e: e, a: a, res: res, plan: s.plan, w: w, hash: s.hash,
		timings: map[string]float64{"load": res.loadTime.Seconds()}}
	if err := run.generate(ctx, progress); err != nil {
		s.t.Abort(err)
		return protocol.ShardInfo{}, err
	}
	info, err := run.finish(ctx, start)
	if err == nil && a.Rank == 0 {
		e.generated.Add(1)
	}
	return info, err
}

// discardWriter is the shard writer of ranks other than 0: it counts
// images and stores nothing.
type discardWriter struct{ images int }

var _ storage.ShardWriter = (*discardWriter)(nil)

func (d *discardWriter) Write(context.Context, storage.Sample) error { d.images++; return nil }
func (d *discardWriter) Finish(_ context.Context, st storage.ShardStats) (storage.ShardStats, error) {
	st.Images = d.images
	return st, nil
}
func (d *discardWriter) Abort()            {}
func (d *discardWriter) Objects() []string { return nil }
func (d *discardWriter) Bytes() int64      { return 0 }
func (d *discardWriter) Images() int       { return d.images }
