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

// shardRun is one Execute call's state.
type shardRun struct {
	e       *PipelineExecutor
	a       protocol.Assignment
	res     *resident
	prompts []string // one per sample
	w       *storage.FilesWriter
	timings map[string]float64
}

// generate runs the samples in batches, writing each image as it is done.
func (r *shardRun) generate(ctx context.Context, progress func(int)) error {
	start, n := r.a.Task.Start, len(r.prompts)
	bs := r.e.cfg.BatchSize
	for off := 0; off < n; off += bs {
		k := min(bs, n-off)
		res, err := r.res.p.Generate(ctx, r.request(start+int64(off), r.prompts[off:off+k]))
		if err != nil {
			return err
		}
		r.timings["encode"] += res.Timings.Encode.Seconds()
		r.timings["denoise"] += res.Timings.Denoise.Seconds()
		r.timings["decode"] += res.Timings.Decode.Seconds()
		for j, img := range res.Images {
			if err := r.write(ctx, start+int64(off+j), img, res.Timings, k); err != nil {
				return err
			}
			progress(off + j + 1)
		}
	}
	return nil
}

// request is the sana.Request of samples first… of the job, with the
// same defaults `sanafarm generate` applies for a preset.
func (r *shardRun) request(first int64, prompts []string) sana.Request {
	s := r.a.Spec
	q := sana.Request{Prompts: prompts, NegativePrompt: s.NegativePrompt, Width: s.Width, Height: s.Height,
		Steps: s.Steps, Guidance: s.Guidance, Sampler: s.Sampler, Seed: requestSeed(s.Seed, first),
		ImagesPerPrompt: 1, BatchSize: len(prompts)}
	if m := r.res.model; m.IsPreset {
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

func pickInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// write stores sample i (its Params rewritten to the job's seed and index).
func (r *shardRun) write(ctx context.Context, i int64, img sana.Image, t sana.Timings, batch int) error {
	t0 := time.Now()
	img.Params.Seed, img.Params.Index = r.a.Spec.Seed, int(i)
	png, err := encodePNG(img, r.res.model)
	if err != nil {
		return err
	}
	meta := sampleMeta{provenance: provenance{Params: img.Params}, Job: r.a.Task.Job, Shard: r.a.Task.Shard,
		SampleSeed: rng.SampleSeed(r.a.Spec.Seed, int(i)), Node: r.e.cfg.Node,
		Timings: map[string]float64{"encode": t.Encode.Seconds() / float64(batch),
			"denoise": t.Denoise.Seconds() / float64(batch), "decode": t.Decode.Seconds() / float64(batch)}}
	if m := r.res.model; m.IsPreset {
		meta.Preset, meta.Repo, meta.Revision = m.Preset.Name, m.Preset.Repo, m.Preset.Revision
	}
	err = r.w.Write(ctx, storage.Sample{Index: i, Prompt: img.Prompt, PNG: png, Meta: meta})
	r.timings["write"] += time.Since(t0).Seconds()
	return err
}

// finish writes the stats (last) and returns the shard's result.
func (r *shardRun) finish(ctx context.Context, start time.Time) (protocol.ShardInfo, error) {
	st, err := r.w.Finish(ctx, storage.ShardStats{Job: string(r.a.Task.Job), Attempt: r.a.Task.Attempt,
		Node: r.e.cfg.Node, Backend: r.res.p.Backend().Name(), Model: r.res.model.Origin,
		Start: r.a.Task.Start, End: r.a.Task.End, Seconds: time.Since(start).Seconds(), Timings: r.timings})
	if err != nil {
		return protocol.ShardInfo{}, err
	}
	objects := r.w.Objects()
	if len(objects) > maxReportedObjects {
		objects = []string{storage.ShardDir("", r.a.Task.Shard) + "/", storage.StatsKey("", r.a.Task.Shard)}
	}
	return protocol.ShardInfo{Node: r.e.cfg.Node, Images: st.Images, Bytes: st.Bytes, Objects: objects,
		Seconds: time.Since(start).Seconds() - r.timings["load"]}, nil
}

// maxReportedObjects bounds ShardInfo.Objects (NATS payloads are ~1 MiB);
// bigger shards report their folder and stats key instead.
const maxReportedObjects = 1024
