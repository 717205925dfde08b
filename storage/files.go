package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"time"
)

// Output formats.
const (
	FormatFiles      = "files"      // <shard>/<key>.png, .json, .txt
	FormatWebDataset = "webdataset" // tar shards (not written yet)
)

// SampleKey is the object key stem of sample i (its index in the job), so
// a retried shard rewrites exactly the same keys.
func SampleKey(i int64) string { return fmt.Sprintf("%09d", i) }

// ShardDir is "<prefix>/<shard:05d>", the folder of a shard's files.
func ShardDir(prefix string, shard int) string {
	return path.Join(prefix, fmt.Sprintf("%05d", shard))
}

// StatsKey is "<prefix>/<shard:05d>_stats.json", written last: its
// presence marks a complete shard.
func StatsKey(prefix string, shard int) string {
	return path.Join(prefix, fmt.Sprintf("%05d_stats.json", shard))
}

// Sample is one generated image with its provenance.
type Sample struct {
	Index  int64  // sample index in the job
	Prompt string // written as <key>.txt
	PNG    []byte // written as <key>.png
	Meta   any    // JSON-encoded as <key>.json
}

// ShardStats is the content of a shard's _stats.json.
type ShardStats struct {
	Job     string `json:"job"`
	Shard   int    `json:"shard"`
	Attempt int    `json:"attempt"`
	Node    string `json:"node"`
	Backend string `json:"backend,omitempty"`
	Model   string `json:"model,omitempty"`
	// Start and End are the shard's samples [Start, End).
	Start   int64 `json:"start"`
	End     int64 `json:"end"`
	Images  int   `json:"images"`
	Failed  int   `json:"failed"`
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Seconds is the shard's wall-clock time; Timings splits it by phase
	// (load, encode, denoise, decode, write), in seconds.
	Seconds  float64            `json:"seconds"`
	Timings  map[string]float64 `json:"timings,omitempty"`
	Finished time.Time          `json:"finished"`
}

// Putter is what the dataset writers need of a Store.
type Putter interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
}

// FilesWriter writes one shard in the "files" format. It is not safe for
// concurrent use.
type FilesWriter struct {
	store   Putter
	prefix  string
	shard   int
	objects []string
	bytes   int64
	images  int
}

// NewFilesWriter writes shard under prefix ("" for the store's root).
func NewFilesWriter(store Putter, prefix string, shard int) *FilesWriter {
	return &FilesWriter{store: store, prefix: prefix, shard: shard}
}

// Write stores a sample's .png, .json and .txt objects.
func (w *FilesWriter) Write(ctx context.Context, s Sample) error {
	meta, err := json.MarshalIndent(s.Meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding provenance of sample %d: %w", s.Index, err)
	}
	stem := path.Join(ShardDir(w.prefix, w.shard), SampleKey(s.Index))
	parts := []struct {
		ext  string
		data []byte
	}{{".png", s.PNG}, {".json", append(meta, '\n')}, {".txt", []byte(s.Prompt)}}
	for _, p := range parts {
		if err := w.put(ctx, stem+p.ext, p.data); err != nil {
			return err
		}
	}
	w.images++
	return nil
}

func (w *FilesWriter) put(ctx context.Context, key string, data []byte) error {
	n, err := w.store.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("writing shard %05d: %w", w.shard, err)
	}
	w.objects = append(w.objects, key)
	w.bytes += n
	return nil
}

// Finish writes _stats.json (last) with the counts filled in, and returns
// the stats as written.
func (w *FilesWriter) Finish(ctx context.Context, st ShardStats) (ShardStats, error) {
	st.Shard = w.shard
	st.Images = w.images
	st.Objects = len(w.objects) + 1
	st.Bytes = w.bytes
	if st.Finished.IsZero() {
		st.Finished = time.Now().UTC()
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return st, fmt.Errorf("encoding shard stats: %w", err)
	}
	if err := w.put(ctx, StatsKey(w.prefix, w.shard), append(js, '\n')); err != nil {
		return st, err
	}
	st.Bytes = w.bytes
	return st, nil
}

// Objects returns the keys written so far.
func (w *FilesWriter) Objects() []string { return append([]string(nil), w.objects...) }

// Bytes returns the bytes written so far.
func (w *FilesWriter) Bytes() int64 { return w.bytes }

// Images returns the samples written so far.
func (w *FilesWriter) Images() int { return w.images }
