package storage

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"time"
)

// Manifest object names under a job's output prefix. The Parquet file is
// written after the JSONL one: its presence marks a complete manifest.
const (
	ManifestJSONL   = "manifest.jsonl"
	ManifestParquet = "manifest.parquet"
)

// manifestRowGroup is the rows per Parquet row group (and the most rows
// the writer holds in memory).
const manifestRowGroup = 64 << 10

// ManifestRow is one sample of a job's manifest (and of a shard's
// Parquet). Status is "ok", "failed" (the sample failed) or, for a job
// that ended failed or cancelled, the status its caller gave the samples
// of shards never completed.
type ManifestRow struct {
	Key      string  `json:"key" parquet:"key"`
	Index    int64   `json:"index" parquet:"index"`
	Shard    int32   `json:"shard" parquet:"shard"`
	Job      string  `json:"job" parquet:"job"`
	ID       string  `json:"id,omitempty" parquet:"id,optional"`
	Prompt   string  `json:"prompt" parquet:"prompt"`
	Seed     uint64  `json:"seed" parquet:"seed"`
	Model    string  `json:"model,omitempty" parquet:"model,optional"`
	Revision string  `json:"revision,omitempty" parquet:"revision,optional"`
	Steps    int32   `json:"steps,omitempty" parquet:"steps,optional"`
	Guidance float64 `json:"guidance_scale,omitempty" parquet:"guidance_scale,optional"`
	Sampler  string  `json:"sampler,omitempty" parquet:"sampler,optional"`
	Object   string  `json:"object,omitempty" parquet:"object,optional"`
	Member   string  `json:"member,omitempty" parquet:"member,optional"`
	PNG      string  `json:"png_sha256,omitempty" parquet:"png_sha256,optional"`
	Width    int32   `json:"width" parquet:"width"`
	Height   int32   `json:"height" parquet:"height"`
	Status   string  `json:"status" parquet:"status"`
	Reason   string  `json:"reason,omitempty" parquet:"reason,optional"`
	// Extra is the prompt row's extra fields as one JSON object.
	Extra string `json:"extra,omitempty" parquet:"extra,optional"`
	// StartedAt and FinishedAt bound the shard attempt that wrote it.
	StartedAt  time.Time `json:"started_at,omitzero" parquet:"started_at,optional,timestamp(millisecond)"`
	FinishedAt time.Time `json:"finished_at,omitzero" parquet:"finished_at,optional,timestamp(millisecond)"`
}

// ShardOutcome is an unfinished shard's sample range [Start, End) and why
// its samples were not generated.
type ShardOutcome struct {
	Start, End     int64
	Status, Reason string
}

// ManifestOptions describe the job a manifest is of.
type ManifestOptions struct {
	// Job, Model and Revision fill the rows of shards without stats.
	Job, Model, Revision string
	// Unfinished, if set, names the shards a failed or cancelled job
	// never completed: their stats are not read (any there are another
	// run's) and each sample of the range gets a row with the outcome's
	// status and reason.
	Unfinished func(shard int) (ShardOutcome, bool)
}

// ManifestInfo describes a written manifest.
type ManifestInfo struct {
	Rows, Shards             int64
	JSONLBytes, ParquetBytes int64
	// Aborted counts the uploads of the manifest's files that an earlier
	// writer killed mid-upload had left open (sweepManifestUploads);
	// SweepErr is why they could not be aborted (the manifest is written).
	Aborted  int
	SweepErr error
}

// ManifestStore is what WriteManifest needs of a Store.
type ManifestStore interface {
	Reader
	Putter
}

// WriteManifest writes <prefix>/manifest.jsonl and then
// <prefix>/manifest.parquet from the stats of shards [0, shards), one row
// per sample in index order. It streams: one shard's stats and one row
// group are in memory at a time, both files are spooled to local
// temporary files and stored with one Put each. The bytes are a pure
// function of the stats, so rewriting a manifest is harmless.
func WriteManifest(ctx context.Context, store ManifestStore, prefix string, shards int) (ManifestInfo, error) {
	return WriteManifestOf(ctx, store, prefix, shards, ManifestOptions{})
}

// WriteManifestOf is WriteManifest with the job's options.
func WriteManifestOf(ctx context.Context, store ManifestStore, prefix string, shards int, opts ManifestOptions) (ManifestInfo, error) {
	var info ManifestInfo
	jf, err := os.CreateTemp("", "sanafarm-manifest-*.jsonl")
	if err != nil {
		return info, fmt.Errorf("manifest: %w", err)
	}
	defer removeTemp(jf)
	pf, err := os.CreateTemp("", "sanafarm-manifest-*.parquet")
	if err != nil {
		return info, fmt.Errorf("manifest: %w", err)
	}
	defer removeTemp(pf)
	if info.Rows, err = spoolManifest(ctx, store, prefix, shards, opts, jf, pf); err != nil {
		return info, err
	}
	info.Shards = int64(shards)
	if info.JSONLBytes, err = putFile(ctx, store, path.Join(prefix, ManifestJSONL), jf); err != nil {
		return info, err
	}
	if info.ParquetBytes, err = putFile(ctx, store, path.Join(prefix, ManifestParquet), pf); err != nil {
		return info, err
	}
	info.Aborted, info.SweepErr = sweepManifestUploads(ctx, store, prefix)
	return info, nil
}

// keyUploadAborter is implemented by stores whose interrupted uploads stay
// behind unlisted (S3 multipart uploads), for one key.
type keyUploadAborter interface {
	AbortUploadsOf(ctx context.Context, key string) (int, error)
}

// sweepManifestUploads aborts the multipart uploads still open for the
// manifest's two files. A leader killed while writing a large manifest
// left its upload's parts stored, unlisted and billed; the next leader
// writes the manifest again, and once it has, anything still open for those
// keys is such a leftover (or the write of a deposed leader, which then
// fails harmlessly). Exactly those keys: the output may hold other
// uploads beside them.
func sweepManifestUploads(ctx context.Context, store Putter, prefix string) (int, error) {
	a, ok := store.(keyUploadAborter)
	if !ok {
		return 0, nil
	}
	total := 0
	var errs []error
	for _, name := range []string{ManifestJSONL, ManifestParquet} {
		n, err := a.AbortUploadsOf(ctx, path.Join(prefix, name))
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

func spoolManifest(ctx context.Context, store Reader, prefix string, shards int, opts ManifestOptions, jf, pf *os.File) (int64, error) {
	rows, cols, err := spoolJSONL(ctx, store, prefix, shards, opts, jf)
	if err != nil {
		return rows, err
	}
	if _, err := jf.Seek(0, io.SeekStart); err != nil {
		return rows, fmt.Errorf("manifest: %w", err)
	}
	return rows, writeManifestParquet(jf, pf, cols)
}

// spoolJSONL writes the manifest's JSONL, one shard's rows in memory at a
// time, and returns the rows and the extra fields' column types.
func spoolJSONL(ctx context.Context, store Reader, prefix string, shards int, opts ManifestOptions, jf io.Writer) (int64, extraColumns, error) {
	jw := bufio.NewWriterSize(jf, 256<<10)
	cols := extraColumns{}
	var rows int64
	for shard := range shards {
		rs, err := manifestShard(ctx, store, prefix, shard, opts)
		if err != nil {
			return rows, nil, err
		}
		for _, r := range rs {
			js, err := json.Marshal(r)
			if err != nil {
				return rows, nil, fmt.Errorf("manifest: sample %d: %w", r.Index, err)
			}
			jw.Write(append(js, '\n'))
			cols.add(r.Extra)
			rows++
		}
	}
	if err := jw.Flush(); err != nil {
		return rows, nil, fmt.Errorf("manifest jsonl: %w", err)
	}
	return rows, cols, nil
}

// manifestShard returns a shard's rows: from its stats, or, for a shard
// opts.Unfinished names, one row per sample of its range.
func manifestShard(ctx context.Context, store Reader, prefix string, shard int, opts ManifestOptions) ([]ManifestRow, error) {
	if opts.Unfinished != nil {
		if o, ok := opts.Unfinished(shard); ok {
			rows := make([]ManifestRow, 0, max(o.End-o.Start, 0))
			for i := o.Start; i < o.End; i++ {
				rows = append(rows, ManifestRow{Key: SampleKey(i), Index: i, Shard: int32(shard), Job: opts.Job,
					Model: opts.Model, Revision: opts.Revision, Status: o.Status, Reason: o.Reason})
			}
			return rows, nil
		}
	}
	st, err := ReadStats(ctx, store, prefix, shard)
	if err != nil {
		return nil, fmt.Errorf("manifest: shard %05d: %w", shard, err)
	}
	return shardRows(st), nil
}

// shardRows returns a shard's samples and failures as rows in index order.
func shardRows(st ShardStats) []ManifestRow {
	rows := make([]ManifestRow, 0, len(st.Samples)+len(st.Failures))
	started, finished := manifestTime(st.started()), manifestTime(st.Finished)
	row := func(index int64) ManifestRow {
		return ManifestRow{Key: SampleKey(index), Index: index, Shard: int32(st.Shard), Job: st.Job,
			Model: st.Model, Revision: st.Revision, StartedAt: started, FinishedAt: finished}
	}
	for _, s := range st.Samples {
		r := row(s.Index)
		r.Key, r.ID, r.Prompt, r.Seed, r.Object, r.Member, r.PNG = s.Key, s.ID, s.Prompt, s.Seed, s.Object, s.Member, s.PNG
		r.Steps, r.Guidance, r.Sampler, r.Extra = int32(s.Steps), s.Guidance, s.Sampler, extraJSON(s.Extra)
		r.Width, r.Height, r.Status, r.Reason = int32(s.Width), int32(s.Height), s.Status, s.Reason
		rows = append(rows, r)
	}
	for _, f := range st.Failures {
		r := row(f.Index)
		r.Status, r.Reason = StatusFailed, f.Reason
		rows = append(rows, r)
	}
	// cmp.Compare, not a.Index-b.Index: the indexes come from a node's
	// stats, and a difference can overflow.
	slices.SortStableFunc(rows, func(a, b ManifestRow) int { return cmp.Compare(a.Index, b.Index) })
	return rows
}

// manifestTime is t in UTC, or the zero time (unknown: left out of the
// row) outside the years 1679-2261: JSON timestamps hold only years
// 0-9999, and readers that convert Parquet timestamps to int64
// nanoseconds (parquet-go, pandas) only about 1678-2262. The times come
// from a node's stats (the start is Seconds before Finished), and one
// shard's bad stats must neither fail the job's manifest nor make it
// unreadable.
func manifestTime(t time.Time) time.Time {
	t = t.UTC()
	if y := t.Year(); y < 1679 || y > 2261 {
		return time.Time{}
	}
	return t
}

func putFile(ctx context.Context, store Putter, key string, f *os.File) (int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("manifest %s: %w", key, err)
	}
	n, err := store.Put(ctx, key, f)
	if err != nil {
		return n, fmt.Errorf("manifest %s: %w", key, err)
	}
	return n, nil
}

func removeTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// ManifestDone reports whether a complete manifest (its Parquet file,
// written last) was stored at or after since.
func ManifestDone(ctx context.Context, store Reader, prefix string, since time.Time) (bool, error) {
	info, err := store.Stat(ctx, path.Join(prefix, ManifestParquet))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil && !info.ModTime.Before(since), err
}
