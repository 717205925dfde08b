package storage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// FuzzManifestFromStats: the job manifest is built from the shards'
// stats, which nodes write. For stats ReadStats accepts, WriteManifest
// writes one row per sample and failure, in index order, the same rows in
// the JSONL and the Parquet (times to the millisecond the Parquet keeps),
// and each extra field as a typed Parquet column holding the row's value
// (manifest_extra.go); stats it refuses fail the manifest with an error
// naming the shard. The shards other than fuzzShard are listed as
// unfinished with no samples, so only fuzzShard's stats are read.
func FuzzManifestFromStats(f *testing.F) {
	base := writeFuzzShard(f, FormatWebDataset)
	key := StatsKey("p", fuzzShard)
	good := base.objects[key]
	f.Add(good)
	f.Add(writeFuzzShard(f, FormatFiles).objects[key])
	for _, b := range brokenStats(good) {
		f.Add(b)
	}
	f.Add([]byte(`{"shard": 7, "samples": [{"index": 9223372036854775807}, {"index": -9223372036854775808}, {"index": 0}]}`))
	f.Add([]byte(`{"shard": 7, "finished": "0000-01-01T00:00:00Z", "seconds": 1, "samples": [{"index": 1}]}`))
	f.Add([]byte(`{"shard": 7, "finished": "2025-01-01T00:00:00+23:59", "seconds": 1e300, "failures": [{"index": 2}]}`))
	f.Add([]byte(`{"shard": 7, "finished": "9999-12-31T23:59:59-23:00", "seconds": -5, "failures": [{"index": 2}]}`))
	f.Add([]byte(`{"shard": 7, "samples": [{"extra": {"a": 1e400, "": "x", "b.c": [1, "<"], "d": 1}}, {"extra": {"a": 2, "d": 9223372036854775808, "e": null}}]}`))
	opts := ManifestOptions{Unfinished: func(shard int) (ShardOutcome, bool) { return ShardOutcome{}, shard != fuzzShard }}
	f.Fuzz(func(t *testing.T, stats []byte) {
		ctx := context.Background()
		s := base.with(key, stats)
		st, serr := ReadStats(ctx, s, "p", fuzzShard)
		info, err := WriteManifestOf(ctx, s, "p", fuzzShard+1, opts)
		if serr != nil {
			if err == nil || !errors.Is(err, ErrShardIncomplete) || !strings.Contains(err.Error(), fmt.Sprintf("shard %05d", fuzzShard)) {
				t.Fatalf("stats refused (%v), manifest error %v", serr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("stats accepted, manifest failed: %v", err)
		}
		rows := manifestJSONL(t, s.objects["p/"+ManifestJSONL])
		if want := int64(len(st.Samples) + len(st.Failures)); info.Rows != want || int64(len(rows)) != want {
			t.Fatalf("%d samples and failures: info says %d rows, the JSONL has %d", want, info.Rows, len(rows))
		}
		if !slices.IsSortedFunc(rows, func(a, b ManifestRow) int { return compareInt64(a.Index, b.Index) }) {
			t.Fatalf("rows not in index order: %v", slices.Collect(func(yield func(int64) bool) {
				for _, r := range rows {
					yield(r.Index)
				}
			}))
		}
		pq := s.objects["p/"+ManifestParquet]
		prows, err := parquet.Read[ManifestRow](bytes.NewReader(pq), int64(len(pq)))
		if err != nil || len(prows) != len(rows) {
			t.Fatalf("Parquet: %d rows, %v; the JSONL has %d", len(prows), err, len(rows))
		}
		for i := range rows {
			if j, p := msTimes(rows[i]), msTimes(prows[i]); j != p {
				t.Fatalf("row %d differs:\njsonl   %+v\nparquet %+v", i, j, p)
			}
		}
		checkExtraColumns(t, pq, rows)
	})
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// msTimes is r with its times in UTC to the millisecond, as Parquet keeps.
func msTimes(r ManifestRow) ManifestRow {
	r.StartedAt = r.StartedAt.UTC().Truncate(time.Millisecond)
	r.FinishedAt = r.FinishedAt.UTC().Truncate(time.Millisecond)
	return r
}

func manifestJSONL(t *testing.T, b []byte) []ManifestRow {
	t.Helper()
	var rows []ManifestRow
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var r ManifestRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("JSONL row %d: %v", len(rows), err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkExtraColumns: each extra field of the rows has a Parquet column
// extra_<field>, null where a row lacks the field or has null, else the
// row's value: BOOLEAN, INT64 or DOUBLE as the JSON says, a STRING column
// the string itself where all the field's values are strings, else the
// value's JSON text.
func checkExtraColumns(t *testing.T, pq []byte, rows []ManifestRow) {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(pq), int64(len(pq)))
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, p := range pf.Schema().Columns() {
		col[strings.Join(p, ".")] = i
	}
	extras := make([]map[string]json.RawMessage, len(rows))
	strs := map[string]bool{} // field: all its values are strings (or null)
	for i, r := range rows {
		if r.Extra != "" {
			if err := json.Unmarshal([]byte(r.Extra), &extras[i]); err != nil {
				t.Fatalf("row %d: extra %q: %v", i, r.Extra, err)
			}
		}
		for k, v := range extras[i] {
			prev, ok := strs[k]
			strs[k] = (v[0] == '"' || string(v) == "null") && (prev || !ok)
		}
	}
	prows := parquetRows(t, pf)
	for k, allStr := range strs {
		c, ok := col[ExtraColumnPrefix+k]
		if !ok {
			t.Fatalf("extra field %q has no column (columns %v)", k, pf.Schema().Columns())
		}
		for i, prow := range prows {
			j := slices.IndexFunc(prow, func(v parquet.Value) bool { return v.Column() == c })
			if j < 0 {
				t.Fatalf("row %d has no value in column %d (%q)", i, c, k)
			}
			checkExtraValue(t, k, i, extras[i][k], prow[j], allStr)
		}
	}
}

func checkExtraValue(t *testing.T, field string, row int, raw json.RawMessage, v parquet.Value, allStr bool) {
	t.Helper()
	fail := func(err error) { t.Fatalf("row %d extra %q: JSON %s, Parquet %v (%v)", row, field, raw, v, err) }
	if raw == nil || string(raw) == "null" {
		if !v.IsNull() {
			fail(nil)
		}
		return
	}
	if v.IsNull() {
		fail(nil)
	}
	switch v.Kind() {
	case parquet.Boolean:
		if string(raw) != strconv.FormatBool(v.Boolean()) {
			fail(nil)
		}
	case parquet.Int64:
		if n, err := strconv.ParseInt(string(raw), 10, 64); err != nil || n != v.Int64() {
			fail(err)
		}
	case parquet.Double:
		var x float64
		if err := json.Unmarshal(raw, &x); err != nil || x != v.Double() {
			fail(err)
		}
	default:
		if allStr {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || s != string(v.ByteArray()) {
				fail(err)
			}
		} else if a, b := decodeJSON(raw), decodeJSON(v.ByteArray()); !reflect.DeepEqual(a, b) {
			fail(fmt.Errorf("%v != %v", a, b))
		}
	}
}

func decodeJSON(b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return err.Error()
	}
	return x
}

// parquetRows reads every row of pf, flat.
func parquetRows(t *testing.T, pf *parquet.File) []parquet.Row {
	t.Helper()
	var out []parquet.Row
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				out = append(out, r.Clone())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
	return out
}
