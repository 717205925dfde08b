package storage

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
)

// ExtraColumnPrefix starts the name of the manifest Parquet column of
// each extra field of the prompt rows ("extra_aesthetic"), typed by its
// values: BOOLEAN, INT64, DOUBLE or STRING; a field whose values mix
// kinds (or are objects or arrays) is a STRING column of their JSON.
const ExtraColumnPrefix = "extra_"

// extraKind is the column type of an extra field, widened as values come.
type extraKind uint8

const (
	kindNull extraKind = iota // only nulls so far
	kindBool
	kindInt
	kindFloat
	kindString
	kindJSON // mixed, object or array: the JSON text
)

// extraColumns maps each extra field to its kind.
type extraColumns map[string]extraKind

// kindOf is the kind of one JSON value.
func kindOf(v json.RawMessage) extraKind {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return kindNull
	}
	switch v[0] {
	case 'n':
		return kindNull
	case 't', 'f':
		return kindBool
	case '"':
		return kindString
	case '{', '[':
		return kindJSON
	}
	if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return kindInt
	}
	if _, err := strconv.ParseFloat(string(v), 64); err != nil {
		return kindJSON // beyond a DOUBLE (1e400): kept as its JSON text
	}
	return kindFloat
}

// widen is the kind of a column holding values of kinds a and b.
func widen(a, b extraKind) extraKind {
	switch {
	case a == b || b == kindNull:
		return a
	case a == kindNull:
		return b
	case (a == kindInt && b == kindFloat) || (a == kindFloat && b == kindInt):
		return kindFloat
	}
	return kindJSON
}

// add widens the columns by a row's extra fields (ManifestRow.Extra).
func (c extraColumns) add(extra string) {
	if extra == "" {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(extra), &m) != nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) { // the same columns whenever the manifest is rewritten
		if _, known := c[k]; !known && len(c) >= MaxExtraColumns {
			continue // in the row's "extra" JSON column only
		}
		c[k] = widen(c[k], kindOf(m[k]))
	}
}

// MaxExtraColumns bounds the manifest's typed extra columns: each row
// may bring new field names (MaxExtraFields each), and the coordinator
// holds the schema while it writes a job's manifest. Fields past it stay
// in the "extra" column, as every field does.
const MaxExtraColumns = 1024

// manifestSchema is ManifestRow's schema plus one optional column per
// extra field.
func manifestSchema(cols extraColumns) *parquet.Schema {
	g := parquet.Group{}
	for _, f := range parquet.SchemaOf(ManifestRow{}).Fields() {
		g[f.Name()] = f
	}
	for k, kind := range cols {
		var n parquet.Node
		switch kind {
		case kindBool:
			n = parquet.Leaf(parquet.BooleanType)
		case kindInt:
			n = parquet.Int(64)
		case kindFloat:
			n = parquet.Leaf(parquet.DoubleType)
		default:
			n = parquet.String()
		}
		g[ExtraColumnPrefix+k] = parquet.Optional(n)
	}
	return parquet.NewSchema("manifest", g)
}

// writeManifestParquet converts the spooled JSONL to Parquet.
func writeManifestParquet(jf io.Reader, pf io.Writer, cols extraColumns) error {
	sc := bufio.NewScanner(jf)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	w := newRowWriter(pf, cols, parquet.MaxRowsPerRowGroup(manifestRowGroup))
	for sc.Scan() {
		var r ManifestRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("manifest parquet: rereading the spooled rows: %w", err)
		}
		if err := w.write(r); err != nil {
			return fmt.Errorf("manifest parquet: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("manifest parquet: rereading the spooled rows: %w", err)
	}
	if err := w.close(); err != nil {
		return fmt.Errorf("manifest parquet: %w", err)
	}
	return nil
}

// rowWriter writes ManifestRows as Parquet, 1024 at a time: with no
// extra fields as structs, else as rows of manifestSchema(cols).
type rowWriter struct {
	buf   []ManifestRow
	flush func([]ManifestRow) error
	done  func() error
}

func newRowWriter(pf io.Writer, cols extraColumns, more ...parquet.WriterOption) *rowWriter {
	opts := append(parquetWriterOptions(), more...)
	rw := &rowWriter{buf: make([]ManifestRow, 0, 1024)}
	if len(cols) == 0 {
		w := parquet.NewGenericWriter[ManifestRow](pf, opts...)
		rw.flush = func(rs []ManifestRow) error { _, err := w.Write(rs); return err }
		rw.done = w.Close
		return rw
	}
	w := parquet.NewGenericWriter[any](pf, append(opts, manifestSchema(cols))...)
	ms := make([]any, 0, cap(rw.buf))
	rw.flush = func(rs []ManifestRow) error {
		ms = ms[:0]
		for _, r := range rs {
			ms = append(ms, rowMap(r, cols))
		}
		_, err := w.Write(ms)
		return err
	}
	rw.done = w.Close
	return rw
}

func (w *rowWriter) write(r ManifestRow) error {
	w.buf = append(w.buf, r)
	if len(w.buf) < cap(w.buf) {
		return nil
	}
	err := w.flush(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *rowWriter) close() error {
	if len(w.buf) > 0 {
		if err := w.flush(w.buf); err != nil {
			return err
		}
	}
	return w.done()
}

// opt is v, or nil (a null) for the zero value, as the struct writer
// treats optional fields.
func opt[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

// rowMap is a row as manifestSchema's columns.
func rowMap(r ManifestRow, cols extraColumns) map[string]any {
	m := map[string]any{"key": r.Key, "index": r.Index, "shard": r.Shard, "job": r.Job, "id": opt(r.ID),
		"prompt": r.Prompt, "seed": r.Seed, "model": opt(r.Model), "revision": opt(r.Revision), "steps": opt(r.Steps),
		"guidance_scale": opt(r.Guidance), "sampler": opt(r.Sampler), "object": opt(r.Object), "member": opt(r.Member),
		"png_sha256": opt(r.PNG), "width": r.Width, "height": r.Height, "status": r.Status, "reason": opt(r.Reason),
		"extra": opt(r.Extra), "started_at": optTime(r.StartedAt), "finished_at": optTime(r.FinishedAt)}
	var extra map[string]json.RawMessage
	if r.Extra != "" {
		json.Unmarshal([]byte(r.Extra), &extra)
	}
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		m[ExtraColumnPrefix+k] = extraValue(extra[k], cols[k])
	}
	return m
}

func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// extraValue decodes v as a value of kind (nil when absent or null). It
// returns pointers: the writer takes a zero value in an optional column
// for a null, and false, 0 and "" are values.
func extraValue(v json.RawMessage, kind extraKind) any {
	if kindOf(v) == kindNull {
		return nil
	}
	switch kind {
	case kindBool:
		var b bool
		json.Unmarshal(v, &b)
		return &b
	case kindInt:
		n, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		return &n
	case kindFloat:
		var f float64
		json.Unmarshal(v, &f)
		return &f
	case kindString:
		var s string
		json.Unmarshal(v, &s)
		return &s
	}
	s := string(bytes.TrimSpace(v))
	return &s
}
