package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// outputsShard writes a shard of samples [10, 13) with ids and extras,
// and one failure (sample 13), in format under "out".
func outputsShard(t *testing.T, s Store, format string) ShardStats {
	t.Helper()
	ctx := context.Background()
	w, err := NewShardWriter(s, format, "out", 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(10); i < 13; i++ {
		smp := testSample(i)
		smp.ID, smp.Steps, smp.Guidance, smp.Sampler = fmt.Sprintf("row-%d", i), 20, 4.5, "flow_dpm_solver"
		smp.Extra = map[string]json.RawMessage{"aesthetic": json.RawMessage(fmt.Sprint(i)), "tag": json.RawMessage(`"x"`),
			"nsfw": json.RawMessage(`false`), "mixed": json.RawMessage(`1`)}
		if i == 12 { // widens aesthetic to DOUBLE, mixed to JSON text
			smp.Extra["aesthetic"], smp.Extra["mixed"] = json.RawMessage(`12.5`), json.RawMessage(`"one"`)
		}
		if err := w.Write(ctx, smp); err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Finish(ctx, ShardStats{Job: "j-9", Model: "Sana_600M", Revision: "abc123", Start: 10, End: 14,
		Seconds: 2.5, Failures: []SampleFailure{{Index: 13, Reason: "nan in latents"}}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestShardStatsBytesAndImg2Dataset: a shard's _stats.json says how many
// bytes the shard stored (every object, the stats included; it used to
// say 0) and carries img2dataset's fields, read back with Python's json
// and tarfile modules.
func TestShardStatsBytesAndImg2Dataset(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: no independent JSON/tar reader")
	}
	t.Setenv("TMPDIR", t.TempDir())
	for _, fm := range []string{FormatFiles, FormatWebDataset} {
		t.Run(fm, func(t *testing.T) {
			s, dir := newLocal(t)
			st := outputsShard(t, s, fm)
			var stored int64
			for info, err := range s.List(context.Background(), "out/") {
				if err != nil {
					t.Fatal(err)
				}
				stored += info.Size
			}
			if st.Bytes != stored || st.Bytes == 0 {
				t.Fatalf("stats bytes %d, the shard stored %d", st.Bytes, stored)
			}
			script := `
import json, sys, tarfile, os
st = json.load(open(sys.argv[1]))
out = {k: st[k] for k in ("bytes", "count", "successes", "failed_to_generate", "start_time", "end_time", "status_dict")}
out["size"] = os.path.getsize(sys.argv[1])
if sys.argv[2] != "-":
    with tarfile.open(sys.argv[2]) as tf:
        out["members"] = [m.name for m in tf.getmembers()]
print(json.dumps(out))
`
			tarPath := "-"
			if fm == FormatWebDataset {
				tarPath = filepath.Join(dir, "out", "00002.tar")
			}
			b, err := exec.Command(py, "-c", script, filepath.Join(dir, "out", "00002_stats.json"), tarPath).Output()
			if err != nil {
				t.Fatalf("python: %v", err)
			}
			var got struct {
				Bytes, Count, Successes, FailedToGenerate, Size int64
				StartTime, EndTime                              float64
				StatusDict                                      map[string]int
				Members                                         []string
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			// encoding/json matches snake_case keys to these fields only by
			// case-insensitive name; map the underscored ones by hand.
			var raw map[string]json.RawMessage
			json.Unmarshal(b, &raw)
			json.Unmarshal(raw["failed_to_generate"], &got.FailedToGenerate)
			json.Unmarshal(raw["start_time"], &got.StartTime)
			json.Unmarshal(raw["end_time"], &got.EndTime)
			json.Unmarshal(raw["status_dict"], &got.StatusDict)
			if got.Bytes != stored || got.Count != 4 || got.Successes != 3 || got.FailedToGenerate != 1 ||
				got.StatusDict["success"] != 3 || got.StatusDict["nan in latents"] != 1 ||
				got.EndTime-got.StartTime < 2.4 || got.EndTime-got.StartTime > 2.6 ||
				time.Since(time.Unix(int64(got.EndTime), 0)) > time.Minute {
				t.Fatalf("stats read by python: %s (stored %d bytes)", b, stored)
			}
			if fm == FormatWebDataset && strings.Join(got.Members, " ") != "000000010.png 000000010.json 000000010.txt "+
				"000000011.png 000000011.json 000000011.txt 000000012.png 000000012.json 000000012.txt" {
				t.Fatalf("tar members read by python: %v", got.Members)
			}
		})
	}
}

// TestContentType: every extension the writers produce has its media type.
func TestContentType(t *testing.T) {
	for key, want := range map[string]string{
		"out/00000/000000001.png": "image/png",
		"out/00000.tar":           "application/x-tar",
		"out/00000_stats.json":    "application/json",
		"out/00000.parquet":       "application/vnd.apache.parquet",
		"out/manifest.parquet":    "application/vnd.apache.parquet",
		"out/00000/000000001.txt": "text/plain; charset=utf-8",
		"out/manifest.jsonl":      "application/jsonl",
		"out/UPPER.PNG":           "image/png",
		"out/no-extension":        "application/octet-stream",
	} {
		if got := ContentType(key); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", key, got, want)
		}
	}
}

// parquetMeta checks a Parquet file's created_by and that every column
// chunk is zstd-compressed, with parquet-go's own footer reader.
func parquetMeta(t *testing.T, name string, b []byte) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	md := f.Metadata()
	if !strings.HasPrefix(md.CreatedBy, "sanafarm version ") || !strings.Contains(md.CreatedBy, " (build ") {
		t.Errorf("%s: created_by %q", name, md.CreatedBy)
	}
	for _, rg := range md.RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Errorf("%s: column %v is %v, want zstd", name, c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
}

// TestShardParquetAndManifest: each shard has a zstd Parquet of its
// samples beside it, and the job manifest carries the job, model,
// revision, settings, times, id and extras; a job that ended cancelled
// gets a manifest too, its never-completed shard listed row by row.
func TestShardParquetAndManifest(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx := context.Background()
	s, dir := newLocal(t)
	outputsShard(t, s, FormatWebDataset)
	shardPQ := readObject(t, s, "out/00002.parquet")
	parquetMeta(t, "shard parquet", shardPQ)
	rows, err := parquet.Read[ManifestRow](bytes.NewReader(shardPQ), int64(len(shardPQ)))
	if err != nil || len(rows) != 4 {
		t.Fatalf("shard parquet: %d rows, %v", len(rows), err)
	}
	r := rows[1]
	if r.Job != "j-9" || r.ID != "row-11" || r.Model != "Sana_600M" || r.Revision != "abc123" || r.Steps != 20 ||
		r.Guidance != 4.5 || r.Sampler != "flow_dpm_solver" || r.Extra != `{"aesthetic":11,"mixed":1,"nsfw":false,"tag":"x"}` ||
		r.StartedAt.IsZero() || r.FinishedAt.Sub(r.StartedAt) != 2500*time.Millisecond ||
		rows[3].Status != StatusFailed || rows[3].Reason != "nan in latents" {
		t.Fatalf("shard parquet rows %+v", rows)
	}
	// Shards 0 and 1 never completed (the job was cancelled); shard 2 did.
	opts := ManifestOptions{Job: "j-9", Model: "Sana_600M", Unfinished: func(shard int) (ShardOutcome, bool) {
		return ShardOutcome{Start: int64(shard) * 5, End: int64(shard)*5 + 5, Status: "cancelled", Reason: "job cancelled"}, shard < 2
	}}
	info, err := WriteManifestOf(ctx, s, "out", 3, opts)
	if err != nil || info.Rows != 14 {
		t.Fatalf("manifest %+v: %v", info, err)
	}
	pq := readObject(t, s, "out/manifest.parquet")
	parquetMeta(t, "manifest", pq)
	mrows, err := parquet.Read[ManifestRow](bytes.NewReader(pq), int64(len(pq)))
	if err != nil || len(mrows) != 14 || mrows[0].Status != "cancelled" || mrows[9].Index != 9 ||
		mrows[9].Reason != "job cancelled" || mrows[10].Status != StatusOK || mrows[10].ID != "row-10" {
		t.Fatalf("manifest rows %+v: %v", mrows, err)
	}
	checkWithDuckDB(t, filepath.Join(dir, "out"))
}

// checkWithDuckDB reads the shard Parquet and the manifest with DuckDB.
func checkWithDuckDB(t *testing.T, dir string) {
	t.Helper()
	q := map[string]string{
		"rows": fmt.Sprintf(`SELECT status, count(*) AS n, min(steps) AS steps, max(guidance_scale) AS g,
			max(extra->>'tag') AS tag, max(finished_at) - min(started_at) AS span, max(id) AS id
			FROM read_parquet('%s') GROUP BY status ORDER BY status`, filepath.Join(dir, "manifest.parquet")),
		"meta": fmt.Sprintf(`SELECT DISTINCT compression FROM parquet_metadata('%s')`, filepath.Join(dir, "00002.parquet")),
		"file": fmt.Sprintf(`SELECT created_by FROM parquet_file_metadata('%s')`, filepath.Join(dir, "manifest.parquet")),
		"types": fmt.Sprintf(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('%s'))
			WHERE column_name IN ('steps', 'guidance_scale', 'started_at', 'seed', 'extra') ORDER BY column_name`,
			filepath.Join(dir, "manifest.parquet")),
	}
	q["extras"] = fmt.Sprintf(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('%s'))
			WHERE column_name LIKE 'extra_%%' ORDER BY column_name`, filepath.Join(dir, "manifest.parquet"))
	q["extra_values"] = fmt.Sprintf(`SELECT sum(extra_aesthetic) AS a, bool_or(extra_nsfw) AS nsfw,
			string_agg(extra_mixed, ',' ORDER BY index) AS mixed, count(extra_tag) AS tags FROM read_parquet('%s')`,
		filepath.Join(dir, "manifest.parquet"))
	q["shard_extras"] = strings.ReplaceAll(q["extras"], "manifest.parquet", "00002.parquet")
	got := duckDB(t, q)
	b, _ := json.Marshal(got)
	// extra is a plain string column: parquet-go v0.32 panics writing an
	// optional column with the JSON logical type.
	span := `{"days":0,"micros":"2500000","months":0}`
	want := `{"extra_values":[{"a":33.5,"mixed":"1,1,\"one\"","nsfw":false,"tags":"3"}],` +
		`"extras":[{"column_name":"extra_aesthetic","column_type":"DOUBLE"},{"column_name":"extra_mixed","column_type":"VARCHAR"},` +
		`{"column_name":"extra_nsfw","column_type":"BOOLEAN"},{"column_name":"extra_tag","column_type":"VARCHAR"}],` +
		`"file":[{"created_by":"` + CreatedBy() + `"}],"meta":[{"compression":"ZSTD"}],` +
		`"rows":[{"g":null,"id":null,"n":"10","span":null,"status":"cancelled","steps":null,"tag":null},` +
		`{"g":null,"id":null,"n":"1","span":` + span + `,"status":"failed","steps":null,"tag":null},` +
		`{"g":4.5,"id":"row-12","n":"3","span":` + span + `,"status":"ok","steps":20,"tag":"x"}],` +
		`"types":[{"column_name":"extra","column_type":"VARCHAR"},{"column_name":"guidance_scale","column_type":"DOUBLE"},` +
		`{"column_name":"seed","column_type":"UBIGINT"},{"column_name":"started_at","column_type":"TIMESTAMP WITH TIME ZONE"},` +
		`{"column_name":"steps","column_type":"INTEGER"}]}`
	shardExtras := `"shard_extras":[{"column_name":"extra_aesthetic","column_type":"DOUBLE"},` +
		`{"column_name":"extra_mixed","column_type":"VARCHAR"},{"column_name":"extra_nsfw","column_type":"BOOLEAN"},` +
		`{"column_name":"extra_tag","column_type":"VARCHAR"}],`
	want = strings.Replace(want, `"types":`, shardExtras+`"types":`, 1)
	if string(b) != want {
		t.Fatalf("duckdb read:\n%s\nwant\n%s", b, want)
	}
}

// duckDB runs queries with DuckDB's Node.js client, installed with npm
// into ~/.cache/sanafarm/duckdb-node ($SANAFARM_DUCKDB_NODE) on first use;
// the test is skipped, saying why, where that is impossible.
func duckDB(t *testing.T, queries map[string]string) map[string][]map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: no DuckDB reader")
	}
	dir := os.Getenv("SANAFARM_DUCKDB_NODE")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Skipf("no home directory for the DuckDB cache: %v", err)
		}
		dir = filepath.Join(home, ".cache", "sanafarm", "duckdb-node")
	}
	mods := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(mods, "@duckdb", "node-api")); err != nil {
		os.MkdirAll(dir, 0o755)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "@duckdb/node-api")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("npm install @duckdb/node-api into %s failed (%v): %s", dir, err, out)
		}
	}
	js, _ := json.Marshal(queries)
	cmd := exec.Command(node, filepath.Join("testdata", "duckdb_query.js"), string(js))
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v: %s", err, stderr.String())
	}
	var got map[string][]map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("duckdb output %s: %v", out, err)
	}
	return got
}

// TestManifestManyRows: rows are written in batches (more than one of
// them here), with and without extra columns, and all arrive in order.
func TestManifestManyRows(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx := context.Background()
	s, _ := newLocal(t)
	w := NewWebDatasetWriter(s, "", 0)
	for i := range int64(1100) {
		smp := testSample(i)
		smp.Extra = map[string]json.RawMessage{"n": json.RawMessage(fmt.Sprint(i))}
		if err := w.Write(ctx, smp); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(ctx, ShardStats{Job: "j", Start: 0, End: 1100}); err != nil {
		t.Fatal(err)
	}
	for _, withShard := range []bool{true, false} {
		opts := ManifestOptions{Job: "j", Unfinished: func(shard int) (ShardOutcome, bool) {
			return ShardOutcome{Start: 1100, End: 3100, Status: "cancelled"}, shard == 1 || !withShard
		}}
		shards := 2
		if !withShard { // no extras at all: the struct writer
			opts.Unfinished = func(int) (ShardOutcome, bool) { return ShardOutcome{Start: 0, End: 3000, Status: "cancelled"}, true }
			shards = 1
		}
		info, err := WriteManifestOf(ctx, s, "", shards, opts)
		if err != nil {
			t.Fatal(err)
		}
		pq := readObject(t, s, ManifestParquet)
		rows, err := parquet.Read[ManifestRow](bytes.NewReader(pq), int64(len(pq)))
		if err != nil || int64(len(rows)) != info.Rows || (withShard && info.Rows != 3100) || (!withShard && info.Rows != 3000) {
			t.Fatalf("%d rows of %d: %v", len(rows), info.Rows, err)
		}
		for i, r := range rows {
			if r.Index != int64(i) {
				t.Fatalf("row %d has index %d", i, r.Index)
			}
		}
		if withShard && rows[1099].Extra != `{"n":1099}` {
			t.Fatalf("row 1099 extra %q", rows[1099].Extra)
		}
	}
}
