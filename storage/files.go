package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"time"
)

// Output formats.
const (
	FormatFiles      = "files"      // <shard>/<key>.png, .json, .txt
	FormatWebDataset = "webdataset" // <shard>.tar holding <key>.png, .json, .txt
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
	// Seed, Width and Height go into the shard's sample records (and so
	// into the job manifest).
	Seed          uint64
	Width, Height int
	// ID and Extra are the prompt row's id and extra fields; Steps,
	// Guidance and Sampler the generation settings actually used. They go
	// into the per-shard Parquet and the job manifest.
	ID       string
	Extra    map[string]json.RawMessage
	Steps    int
	Guidance float64
	Sampler  string
}

// ObjectDigest is one written object: a reader verifies a shard by
// comparing each object's size and SHA-256 with these.
type ObjectDigest struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Sample statuses.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// SampleRecord is one sample as the stats (and the manifest) list it.
type SampleRecord struct {
	Index  int64  `json:"index"`
	Key    string `json:"key"`
	Object string `json:"object"`           // the .png object, or the tar
	Member string `json:"member,omitempty"` // the .png member of the tar
	Prompt string `json:"prompt"`
	Seed   uint64 `json:"seed"`
	PNG    string `json:"png_sha256,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`

	ID       string      `json:"id,omitempty"`
	Extra    extraFields `json:"extra,omitempty"`
	Steps    int         `json:"steps,omitempty"`
	Guidance float64     `json:"guidance_scale,omitempty"`
	Sampler  string      `json:"sampler,omitempty"`
}

// SampleFailure is a sample that was not generated, with the reason.
type SampleFailure struct {
	Index  int64  `json:"index"`
	Reason string `json:"reason"`
}

// MaxStatsBytes bounds a shard's _stats.json, written (encodeStats) and
// read (ReadStats): the coordinator reads every shard's stats for the
// manifest and the dashboard, and a node that wrote a huge one must not
// take its memory (docs/architecture.md §7, "Outside data"). 256 MiB is
// ~2,500 bytes a sample at the largest shard size (protocol.MaxShardSize);
// the default shard of 64 images needs well under 1 MiB.
const MaxStatsBytes = 256 << 20

// ShardStats is the content of a shard's _stats.json.
type ShardStats struct {
	Job     string `json:"job"`
	Shard   int    `json:"shard"`
	Attempt int    `json:"attempt"`
	Node    string `json:"node"`
	GPU     string `json:"gpu,omitempty"`
	Backend string `json:"backend,omitempty"`
	Model   string `json:"model,omitempty"`
	// Revision is the model's pinned revision (Hub presets).
	Revision string `json:"revision,omitempty"`
	Format   string `json:"format"`
	// RequestHash is the SHA-256 of everything that determines the
	// shard's pixels and layout; a resumed job reuses a shard only when
	// its hash matches.
	RequestHash string `json:"request_hash,omitempty"`
	// Start and End are the shard's samples [Start, End).
	Start   int64 `json:"start"`
	End     int64 `json:"end"`
	Images  int   `json:"images"`
	Failed  int   `json:"failed"`
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Seconds is the shard's wall-clock time; Timings splits it by phase
	// (load, encode, denoise, decode, write), in seconds.
	Seconds  float64                    `json:"seconds"`
	Timings  map[string]float64         `json:"timings,omitempty"`
	Finished time.Time                  `json:"finished"`
	Failures boundedList[SampleFailure] `json:"failures,omitempty"`
	// Files are the shard's objects (all but the stats) with digests.
	Files   boundedList[ObjectDigest] `json:"files"`
	Samples boundedList[SampleRecord] `json:"samples"`

	img2datasetStats
}

// Putter is what the dataset writers need of a Store.
type Putter interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
}

// ShardWriter writes one shard: Write each sample in order, then Finish
// (which writes _stats.json last); Abort releases a shard given up on.
type ShardWriter interface {
	Write(ctx context.Context, s Sample) error
	Finish(ctx context.Context, st ShardStats) (ShardStats, error)
	Abort()
	Objects() []string
	Bytes() int64
	Images() int
}

// NewShardWriter returns the writer of format ("" = files).
func NewShardWriter(store Putter, format, prefix string, shard int) (ShardWriter, error) {
	switch format {
	case "", FormatFiles:
		return NewFilesWriter(store, prefix, shard), nil
	case FormatWebDataset:
		return NewWebDatasetWriter(store, prefix, shard), nil
	}
	return nil, fmt.Errorf("output format %q: want %s or %s", format, FormatFiles, FormatWebDataset)
}

// FilesWriter writes one shard in the "files" format. It is not safe for
// concurrent use.
type FilesWriter struct {
	store   Putter
	prefix  string
	shard   int
	objects []string
	files   []ObjectDigest
	samples []SampleRecord
	bytes   int64
}

// NewFilesWriter writes shard under prefix ("" for the store's root).
func NewFilesWriter(store Putter, prefix string, shard int) *FilesWriter {
	return &FilesWriter{store: store, prefix: prefix, shard: shard}
}

// Write stores a sample's .png, .json and .txt objects.
func (w *FilesWriter) Write(ctx context.Context, s Sample) error {
	parts, err := sampleParts(s)
	if err != nil {
		return err
	}
	stem := path.Join(ShardDir(w.prefix, w.shard), SampleKey(s.Index))
	for _, p := range parts {
		d, err := w.put(ctx, stem+p.ext, p.data)
		if err != nil {
			return err
		}
		w.files = append(w.files, d)
	}
	w.samples = append(w.samples, sampleRecord(s, stem+".png", ""))
	return nil
}

type part struct {
	ext  string
	data []byte
}

// sampleParts encodes a sample's three members.
func sampleParts(s Sample) ([]part, error) {
	meta, err := json.MarshalIndent(s.Meta, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding provenance of sample %d: %w", s.Index, err)
	}
	return []part{{".png", s.PNG}, {".json", append(meta, '\n')}, {".txt", []byte(s.Prompt)}}, nil
}

func sampleRecord(s Sample, object, member string) SampleRecord {
	return SampleRecord{Index: s.Index, Key: SampleKey(s.Index), Object: object, Member: member,
		Prompt: s.Prompt, Seed: s.Seed, PNG: sha256Hex(s.PNG), Width: s.Width, Height: s.Height, Status: StatusOK,
		ID: s.ID, Extra: s.Extra, Steps: s.Steps, Guidance: s.Guidance, Sampler: s.Sampler}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (w *FilesWriter) put(ctx context.Context, key string, data []byte) (ObjectDigest, error) {
	n, err := w.store.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		return ObjectDigest{}, fmt.Errorf("writing shard %05d: %w", w.shard, err)
	}
	w.objects = append(w.objects, key)
	w.bytes += n
	return ObjectDigest{Key: key, Size: n, SHA256: sha256Hex(data)}, nil
}

// Finish writes _stats.json (last) with the counts filled in, and returns
// the stats as written.
func (w *FilesWriter) Finish(ctx context.Context, st ShardStats) (ShardStats, error) {
	st.Format = FormatFiles
	st, err := writeStats(ctx, w.store, w.prefix, w.shard, st, w.files, w.samples, w.bytes, &w.objects)
	if err == nil {
		w.bytes = st.Bytes
	}
	return st, err
}

// writeStats fills in st's counts and digests, writes the shard's
// Parquet (ShardParquetKey) and then the stats, last. bytes counts what
// the shard wrote before; the stats' "bytes" is the shard's total, the
// stats object itself included (encodeStats).
func writeStats(ctx context.Context, store Putter, prefix string, shard int, st ShardStats,
	files []ObjectDigest, samples []SampleRecord, bytes int64, objects *[]string) (ShardStats, error) {
	st.Shard = shard
	st.Samples = samples
	st.Images = len(samples)
	st.Failed = len(st.Failures)
	if st.Finished.IsZero() {
		st.Finished = time.Now().UTC()
	}
	st.setImg2Dataset()
	pq, err := shardParquet(st)
	if err != nil {
		return st, err
	}
	pqKey := ShardParquetKey(prefix, shard)
	n, err := store.Put(ctx, pqKey, bytes2reader(pq))
	if err != nil {
		return st, fmt.Errorf("writing shard %05d parquet: %w", shard, err)
	}
	*objects = append(*objects, pqKey)
	bytes += n
	st.Files = append(files, ObjectDigest{Key: pqKey, Size: n, SHA256: sha256Hex(pq)})
	st.Objects = len(st.Files) + 1
	js, err := encodeStats(&st, bytes)
	if err != nil {
		return st, err
	}
	key := StatsKey(prefix, shard)
	if _, err := store.Put(ctx, key, bytes2reader(js)); err != nil {
		return st, fmt.Errorf("writing shard %05d stats: %w", shard, err)
	}
	*objects = append(*objects, key)
	return st, nil
}

// encodeStats encodes st with Bytes = data + the encoding's own length:
// the length depends on the digits of Bytes, so it iterates to the fixed
// point (two or three rounds).
func encodeStats(st *ShardStats, data int64) ([]byte, error) {
	st.Bytes = data
	for range 8 {
		js, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encoding shard stats: %w", err)
		}
		js = append(js, '\n')
		if len(js) > MaxStatsBytes { // readers refuse it (ReadStats): fail the shard now, with the reason
			return nil, fmt.Errorf("encoding shard %05d stats: %d bytes, more than the %d a shard's stats may have "+
				"(fewer images per shard, or shorter prompts)", st.Shard, len(js), MaxStatsBytes)
		}
		if total := data + int64(len(js)); st.Bytes != total {
			st.Bytes = total
			continue
		}
		return js, nil
	}
	return nil, fmt.Errorf("encoding shard %05d stats: byte count did not settle", st.Shard)
}

func bytes2reader(b []byte) io.Reader { return bytes.NewReader(b) }

// Abort does nothing: every object written is already complete.
func (w *FilesWriter) Abort() {}

// Objects returns the keys written so far.
func (w *FilesWriter) Objects() []string { return append([]string(nil), w.objects...) }

// Bytes returns the bytes written so far.
func (w *FilesWriter) Bytes() int64 { return w.bytes }

// Images returns the samples written so far.
func (w *FilesWriter) Images() int { return len(w.samples) }
