package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
)

// ShardParquetKey is "<prefix>/<shard:05d>.parquet": one row per sample of
// the shard (ManifestRow), beside its tar or folder, as img2dataset writes.
func ShardParquetKey(prefix string, shard int) string {
	return path.Join(prefix, fmt.Sprintf("%05d.parquet", shard))
}

// img2datasetStats are the fields img2dataset writes in its
// <shard>_stats.json, so tools reading those read ours; they sit next to
// ours in the same object.
type img2datasetStats struct {
	// Count is the samples the shard was asked for, Successes those
	// written, FailedToGenerate those not (img2dataset:
	// failed_to_download).
	Count            int     `json:"count"`
	Successes        int     `json:"successes"`
	FailedToGenerate int     `json:"failed_to_generate"`
	StartTime        float64 `json:"start_time"` // Unix seconds
	EndTime          float64 `json:"end_time"`
	// StatusDict counts the samples per outcome: "success", or the
	// failure reason.
	StatusDict map[string]int `json:"status_dict"`
}

// setImg2Dataset fills in the img2dataset fields from ours.
func (st *ShardStats) setImg2Dataset() {
	d := &st.img2datasetStats
	d.Successes, d.FailedToGenerate = st.Images, st.Failed
	d.Count = st.Images + st.Failed
	if n := int(st.End - st.Start); n > d.Count {
		d.Count = n
	}
	d.EndTime = float64(st.Finished.UnixMicro()) / 1e6
	d.StartTime = d.EndTime - st.Seconds
	d.StatusDict = map[string]int{}
	if st.Images > 0 {
		d.StatusDict["success"] = st.Images
	}
	for _, f := range st.Failures {
		d.StatusDict[f.Reason]++
	}
}

// started is when the shard's attempt started.
func (st *ShardStats) started() time.Time {
	return st.Finished.Add(-time.Duration(st.Seconds * float64(time.Second)))
}

// parquetWriterOptions are those of every Parquet file written here:
// zstd pages and a created_by naming this program and its version.
func parquetWriterOptions() []parquet.WriterOption {
	return []parquet.WriterOption{parquet.Compression(&parquet.Zstd), &parquet.WriterConfig{CreatedBy: CreatedBy()}}
}

// CreatedBy is the Parquet created_by of our files, in the form the
// format specifies: "sanafarm version <version> (build <vcs revision>)"
// (parquet.CreatedBy omits the space before the parenthesis).
func CreatedBy() string {
	v, rev := buildVersion()
	if rev == "" {
		rev = "unknown"
	}
	return "sanafarm version " + v + " (build " + rev + ")"
}

// buildVersion is the main module's version and VCS revision.
var buildVersion = sync.OnceValues(func() (string, string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown", ""
	}
	v, rev := strings.TrimSpace(bi.Main.Version), ""
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			rev = s.Value
		}
	}
	return v, rev
})

// shardParquet encodes a shard's rows (samples and failures, in index
// order) as Parquet, the extra fields typed as in the manifest.
func shardParquet(st ShardStats) ([]byte, error) {
	rows := shardRows(st)
	cols := extraColumns{}
	for _, r := range rows {
		cols.add(r.Extra)
	}
	var buf bytes.Buffer
	w := newRowWriter(&buf, cols)
	for _, r := range rows {
		if err := w.write(r); err != nil {
			return nil, fmt.Errorf("shard %05d parquet: %w", st.Shard, err)
		}
	}
	if err := w.close(); err != nil {
		return nil, fmt.Errorf("shard %05d parquet: %w", st.Shard, err)
	}
	return buf.Bytes(), nil
}

// extraJSON encodes a row's extra fields as one JSON object ("" if none).
func extraJSON(extra map[string]json.RawMessage) string {
	if len(extra) == 0 {
		return ""
	}
	b, err := json.Marshal(extra)
	if err != nil {
		return ""
	}
	return string(b)
}

// contentTypes maps the extensions this package writes to their media
// types; S3 records them, so browsers and HTTP clients see what an
// object is (anything else is application/octet-stream).
var contentTypes = map[string]string{
	".png":     "image/png",
	".jpg":     "image/jpeg",
	".jpeg":    "image/jpeg",
	".webp":    "image/webp",
	".tar":     "application/x-tar",
	".json":    "application/json",
	".jsonl":   "application/jsonl",
	".parquet": "application/vnd.apache.parquet",
	".txt":     "text/plain; charset=utf-8",
	".csv":     "text/csv; charset=utf-8",
}

// ContentType is the media type of an object key, by its extension.
func ContentType(key string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return t
	}
	return "application/octet-stream"
}
