package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// parquetSource is an open Parquet prompt file.
type parquetSource struct {
	name  string
	file  *parquet.File
	close func()
	cols  []string // leaf column names, in leaf order
	h     csvHeader
}

// openParquet opens a local Parquet file in place; other URLs (s3://) are
// spooled to a local temporary file first (Parquet needs random access).
func openParquet(ctx context.Context, url string) (*parquetSource, error) {
	var f *os.File
	var cleanup func()
	if p, err := LocalPath(url); err == nil {
		if f, err = os.Open(p); err != nil {
			return nil, err
		}
		cleanup = func() { f.Close() }
	} else {
		spooled, err := spool(ctx, url)
		if err != nil {
			return nil, err
		}
		f = spooled
		cleanup = func() { removeTemp(spooled) }
	}
	src, err := newParquetSource(f, url)
	if err != nil {
		cleanup()
		return nil, err
	}
	src.close = cleanup
	return src, nil
}

func spool(ctx context.Context, url string) (*os.File, error) {
	rc, err := OpenObject(ctx, url)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "sanafarm-prompts-*.parquet")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: rc}); err != nil {
		removeTemp(f)
		return nil, fmt.Errorf("downloading %s: %w", url, err)
	}
	return f, nil
}

// newParquetSource opens a Parquet prompt file: a job's input, from anyone
// who can write the bucket, so it is checked before parquet-go trusts it
// (checkParquetFooter, checkRowGroups), its page index is not read
// (parquet-go slices and allocates by the offsets and lengths it claims;
// without it a read seeks within a row group by reading its pages from
// the start), and a panic in parquet-go is an error (recoverParquet).
func newParquetSource(f *os.File, name string) (src *parquetSource, err error) {
	defer recoverParquet(name, &err)
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkParquetFooter(f, info.Size()); err != nil {
		return nil, fmt.Errorf("%s: not a Parquet file: %w", name, err)
	}
	pf, err := parquet.OpenFile(f, info.Size(), parquet.SkipPageIndex(true))
	if err != nil {
		return nil, fmt.Errorf("%s: not a Parquet file: %w", name, err)
	}
	if err := checkRowGroups(pf); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	src = &parquetSource{name: name, file: pf}
	for _, path := range pf.Schema().Columns() {
		src.cols = append(src.cols, strings.Join(path, "."))
	}
	if src.h, err = parseCSVHeader(src.cols, name); err != nil {
		return nil, fmt.Errorf("%s: Parquet schema has no %q column (columns: %s)", name, fieldPrompt,
			strings.Join(src.cols, ", "))
	}
	src.cols = src.h.names // lower case, as the header's
	return src, nil
}

// recoverParquet turns a panic of parquet-go on a malformed file (some
// offsets it slices by are not checked) into *err, naming the file.
func recoverParquet(name string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: malformed Parquet file: %v", name, r)
	}
}

// checkParquetFooter refuses a footer length (the file's last 8 bytes: a
// little-endian uint32, then "PAR1"; Parquet's format spec) that the
// file cannot hold: parquet-go allocates that length before reading it,
// so 8 bytes of a prompt file would cost up to 4 GiB.
func checkParquetFooter(f io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes, too short", size)
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return fmt.Errorf("its footer claims %d bytes of %d", n, size)
	}
	return nil
}

// checkRowGroups checks that the row groups hold the rows the footer
// counts (NumRows, the job's prompt count): readParquetRows would
// otherwise return fewer rows than a task asks for.
func checkRowGroups(pf *parquet.File) error {
	var rows int64
	for _, rg := range pf.RowGroups() {
		n := rg.NumRows()
		if n < 0 || rows+n < rows {
			return fmt.Errorf("a row group claims %d rows", n)
		}
		rows += n
	}
	if rows != pf.NumRows() {
		return fmt.Errorf("its row groups hold %d rows, its footer says %d", rows, pf.NumRows())
	}
	return nil
}

// readParquetRows returns rows [start, end), reading only the row groups
// that hold them (and seeking within the first).
func readParquetRows(ctx context.Context, url string, start, end int64) ([]PromptRow, error) {
	src, err := openParquet(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("reading prompts: %w", err)
	}
	defer src.close()
	if n := src.file.NumRows(); end > n {
		return nil, fmt.Errorf("reading prompts: %s has %d prompts, the task needs rows [%d, %d)", url, n, start, end)
	}
	out := make([]PromptRow, 0, end-start)
	var base int64
	for _, rg := range src.file.RowGroups() {
		n := rg.NumRows()
		if base+n > start && base < end {
			lo, hi := max(start-base, 0), min(end-base, n)
			if err := src.readGroup(ctx, rg, base, lo, hi, &out); err != nil {
				return nil, fmt.Errorf("reading prompts: %w", err)
			}
		}
		base += n
		if base >= end {
			break
		}
	}
	return out, nil
}

// readGroup appends rows [lo, hi) of one row group (base: its first row).
func (s *parquetSource) readGroup(ctx context.Context, rg parquet.RowGroup, base, lo, hi int64, out *[]PromptRow) (err error) {
	defer recoverParquet(s.name, &err)
	rows := rg.Rows()
	defer rows.Close()
	if err := rows.SeekToRow(lo); err != nil {
		return fmt.Errorf("%s: seeking to row %d: %w", s.name, base+lo, err)
	}
	buf := make([]parquet.Row, min(hi-lo, 256))
	for r := lo; r < hi; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := rows.ReadRows(buf[:min(int64(len(buf)), hi-r)])
		for _, row := range buf[:n] {
			p, perr := s.row(row)
			if perr != nil {
				return fmt.Errorf("%s: row %d: %w", s.name, base+r, perr)
			}
			*out = append(*out, p)
			r++
		}
		if errors.Is(err, io.EOF) && r < hi {
			return fmt.Errorf("%s: row group ends at row %d, before %d", s.name, base+r, base+hi)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: row %d: %w", s.name, base+r, err)
		}
	}
	return nil
}

// row converts one flat Parquet row.
func (s *parquetSource) row(row parquet.Row) (PromptRow, error) {
	rec := make([]string, len(s.cols))
	extra := map[string]json.RawMessage{}
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(s.cols) || v.IsNull() {
			continue
		}
		str, js := parquetValue(v)
		rec[c] = str
		extra[s.cols[c]] = js
	}
	if _, ok := extra[s.cols[s.h.prompt]]; !ok {
		return PromptRow{}, fmt.Errorf("column %q is null", fieldPrompt)
	}
	p, err := s.h.row(rec)
	if err != nil {
		return p, err
	}
	if p.Extra != nil {
		for k := range p.Extra {
			p.Extra[k] = extra[k] // typed values, not their strings
		}
	}
	return p, nil
}

// parquetValue returns a value as a string and as JSON.
func parquetValue(v parquet.Value) (string, json.RawMessage) {
	var x any
	switch v.Kind() {
	case parquet.Boolean:
		x = v.Boolean()
	case parquet.Int32:
		x = int64(v.Int32())
	case parquet.Int64:
		x = v.Int64()
	case parquet.Float:
		x = float64(v.Float())
	case parquet.Double:
		x = v.Double()
	default:
		x = string(v.ByteArray())
	}
	js, err := json.Marshal(x)
	if err != nil { // NaN, ±Inf
		js, _ = json.Marshal(fmt.Sprint(x))
	}
	if s, ok := x.(string); ok {
		return s, js
	}
	if i, ok := x.(int64); ok {
		return strconv.FormatInt(i, 10), js
	}
	return fmt.Sprint(x), js
}

// countParquet returns a Parquet file's rows, checking it has a prompt
// column.
func countParquet(ctx context.Context, url string) (int64, error) {
	src, err := openParquet(ctx, url)
	if err != nil {
		return 0, err
	}
	defer src.close()
	return src.file.NumRows(), nil
}
