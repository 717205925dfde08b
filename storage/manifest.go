package storage

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
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

// ManifestRow is one sample of a job's manifest.
type ManifestRow struct {
	Key    string `json:"key" parquet:"key"`
	Index  int64  `json:"index" parquet:"index"`
	Shard  int32  `json:"shard" parquet:"shard"`
	Prompt string `json:"prompt" parquet:"prompt"`
	Seed   uint64 `json:"seed" parquet:"seed"`
	Object string `json:"object" parquet:"object"`
	Member string `json:"member,omitempty" parquet:"member,optional"`
	PNG    string `json:"png_sha256,omitempty" parquet:"png_sha256,optional"`
	Width  int32  `json:"width" parquet:"width"`
	Height int32  `json:"height" parquet:"height"`
	Status string `json:"status" parquet:"status"`
	Reason string `json:"reason,omitempty" parquet:"reason,optional"`
}

// ManifestInfo describes a written manifest.
type ManifestInfo struct {
	Rows, Shards             int64
	JSONLBytes, ParquetBytes int64
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
	if info.Rows, err = spoolManifest(ctx, store, prefix, shards, jf, pf); err != nil {
		return info, err
	}
	info.Shards = int64(shards)
	if info.JSONLBytes, err = putFile(ctx, store, path.Join(prefix, ManifestJSONL), jf); err != nil {
		return info, err
	}
	if info.ParquetBytes, err = putFile(ctx, store, path.Join(prefix, ManifestParquet), pf); err != nil {
		return info, err
	}
	return info, nil
}

func spoolManifest(ctx context.Context, store Reader, prefix string, shards int, jf, pf io.Writer) (int64, error) {
	jw := bufio.NewWriterSize(jf, 256<<10)
	pw := parquet.NewGenericWriter[ManifestRow](pf, parquet.MaxRowsPerRowGroup(manifestRowGroup),
		parquet.CreatedBy("sanafarm", "1", ""))
	var rows int64
	buf := make([]ManifestRow, 0, 1024)
	flush := func() error {
		if _, err := pw.Write(buf); err != nil {
			return fmt.Errorf("manifest parquet: %w", err)
		}
		buf = buf[:0]
		if rows%manifestRowGroup == 0 {
			return pw.Flush()
		}
		return nil
	}
	for shard := range shards {
		st, err := ReadStats(ctx, store, prefix, shard)
		if err != nil {
			return rows, fmt.Errorf("manifest: shard %05d: %w", shard, err)
		}
		for _, r := range shardRows(st) {
			js, err := json.Marshal(r)
			if err != nil {
				return rows, fmt.Errorf("manifest: sample %d: %w", r.Index, err)
			}
			jw.Write(append(js, '\n'))
			buf = append(buf, r)
			rows++
			if len(buf) == cap(buf) || rows%manifestRowGroup == 0 {
				if err := flush(); err != nil {
					return rows, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return rows, err
	}
	if err := pw.Close(); err != nil {
		return rows, fmt.Errorf("manifest parquet: %w", err)
	}
	if err := jw.Flush(); err != nil {
		return rows, fmt.Errorf("manifest jsonl: %w", err)
	}
	return rows, nil
}

// shardRows returns a shard's samples and failures as rows in index order.
func shardRows(st ShardStats) []ManifestRow {
	rows := make([]ManifestRow, 0, len(st.Samples)+len(st.Failures))
	for _, s := range st.Samples {
		rows = append(rows, ManifestRow{Key: s.Key, Index: s.Index, Shard: int32(st.Shard), Prompt: s.Prompt,
			Seed: s.Seed, Object: s.Object, Member: s.Member, PNG: s.PNG, Width: int32(s.Width),
			Height: int32(s.Height), Status: s.Status, Reason: s.Reason})
	}
	for _, f := range st.Failures {
		rows = append(rows, ManifestRow{Key: SampleKey(f.Index), Index: f.Index, Shard: int32(st.Shard),
			Status: StatusFailed, Reason: f.Reason})
	}
	slices.SortStableFunc(rows, func(a, b ManifestRow) int { return int(a.Index - b.Index) })
	return rows
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
