package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/sanafarm/sanafarm/protocol"
)

// Prompt file formats.
const (
	FormatTXT   = "txt"   // one prompt per line
	FormatJSONL = "jsonl" // one JSON string or {"prompt": ...} object per line
	FormatCSV   = "csv"   // a header with a "prompt" column, one row per prompt
	// FormatParquet: a "prompt" column (read by row group, see
	// PromptReader).
	FormatParquet = "parquet"
)

// MaxLineBytes bounds one line of a prompt file (a JSONL record may carry
// more than its prompt); longer lines are errors, never buffered whole.
const MaxLineBytes = 1 << 20

// errStopScan ends a scan early without an error.
var errStopScan = errors.New("stop scan")

// PromptFormat returns a source's format: Format, or the URL's extension.
func PromptFormat(src protocol.PromptSource) (string, error) {
	f := strings.ToLower(src.Format)
	if f == "" {
		u := strings.ToLower(src.URL)
		u, _, _ = strings.Cut(u, "?")
		f = strings.TrimPrefix(path.Ext(u), ".")
	}
	switch f {
	case FormatTXT, FormatJSONL, FormatCSV, FormatParquet:
		return f, nil
	case "ndjson":
		return FormatJSONL, nil
	}
	return "", fmt.Errorf("prompt file %q: unknown format %q (want txt, jsonl, csv or parquet)", src.URL, f)
}

// ScanPrompts streams the prompts of r, a file in format (name is used in
// errors: "name:line: problem"), calling fn with each prompt's row number
// (0-based; blank lines are not rows). It stops at fn's first error. A
// line longer than MaxLineBytes, invalid UTF-8, bad JSON, or a prompt over
// protocol.MaxPromptBytes is an error naming the file and line.
func ScanPrompts(ctx context.Context, r io.Reader, format, name string, fn func(row int64, prompt string) error) error {
	return ScanRows(ctx, r, format, name, func(row int64, p PromptRow) error { return fn(row, p.Prompt) })
}

// ScanRows is ScanPrompts with each row's fields (JSONL and CSV records
// carry a negative prompt, seed, id and extra fields).
func ScanRows(ctx context.Context, r io.Reader, format, name string, fn func(row int64, p PromptRow) error) error {
	return scanAt(ctx, r, format, name, scanFrom{}, func(row, _ int64, p PromptRow) error { return fn(row, p) })
}

// scanFrom says where a scan starts: r begins at byte offset of the file
// (0: its start; else a row start from the file's PromptIndex, see
// prompts_index.go), where row number row begins. Rows before skip are
// counted but not parsed (nor passed on): a task reading rows near the
// end only splits lines until its range (every line was checked when the
// job was submitted). header is the CSV header, read from the file's
// start, when offset is not 0.
type scanFrom struct {
	offset, row, skip int64
	header            *csvHeader
}

// name is the file's name in errors: line numbers count from offset.
func (at scanFrom) name(name string) string {
	if at.offset == 0 {
		return name
	}
	return fmt.Sprintf("%s (from byte %d)", name, at.offset)
}

// scanAt streams the rows of r, calling fn with each row's number and
// the byte offset where its line (CSV: its record) starts.
func scanAt(ctx context.Context, r io.Reader, format, name string, at scanFrom, fn func(row, off int64, p PromptRow) error) error {
	switch format {
	case FormatCSV:
		return scanCSV(ctx, r, at.name(name), at, fn)
	case FormatTXT, FormatJSONL:
	default:
		return fmt.Errorf("%s: prompt format %q cannot be streamed", name, format)
	}
	name = at.name(name)
	br := bufio.NewReaderSize(r, 64<<10)
	row, off := at.row, at.offset
	for line := int64(1); ; line++ {
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if row < at.skip {
			if k, rows, n := skipBuffered(br, at.skip-row, at.offset == 0 && line == 1); k > 0 {
				line, row, off = line+k-1, row+rows, off+n
				if err := ctx.Err(); err != nil {
					return err
				}
				continue
			}
		}
		b, n, err := readLine(br)
		if errors.Is(err, io.EOF) && b == nil {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		start, first := off, at.offset == 0 && line == 1
		off += int64(n)
		if row < at.skip {
			if isRowLine(b, first) {
				row++
			}
		} else {
			p, ok, perr := parseLine(b, format, first)
			if perr != nil {
				return fmt.Errorf("%s:%d: %w", name, line, perr)
			}
			if ok {
				if err := fn(row, start, p); err != nil {
					return err
				}
				row++
			}
		}
		if err != nil { // io.EOF after a last line without newline
			return nil
		}
	}
}

// readLine returns the next line without its line ending and the bytes
// it took with the ending; (nil, 0, io.EOF) at the end. The line aliases
// br's buffer (valid until the next read: every caller copies what it
// keeps) unless it is longer than the buffer, so splitting lines does not
// allocate. A line over MaxLineBytes is an error (the rest is not read).
func readLine(br *bufio.Reader) ([]byte, int, error) {
	chunk, err := br.ReadSlice('\n')
	switch {
	case err == nil || errors.Is(err, io.EOF) && len(chunk) > 0:
		return trimEOL(chunk), len(chunk), err
	case !errors.Is(err, bufio.ErrBufferFull):
		return nil, 0, err
	}
	buf := bytes.Clone(chunk)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+2 {
			return nil, 0, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		buf = append(buf, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return nil, 0, err
		}
		return trimEOL(buf), len(buf), err
	}
}

// skipBuffered passes over the complete lines in br's buffer (filled
// first) until n rows are passed, without reading them one by one: it
// returns the lines, rows and bytes it consumed (0 lines when no line is
// complete in the buffer: the caller reads that one with readLine).
// first: the buffer starts at the file's first line.
func skipBuffered(br *bufio.Reader, n int64, first bool) (lines, rows, consumed int64) {
	buf, _ := br.Peek(br.Size()) // a read error comes back from the next readLine
	i := 0
	for rows < n {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			break
		}
		if isRowLine(trimEOL(buf[i:i+j+1]), first && lines == 0) {
			rows++
		}
		lines, i = lines+1, i+j+1
	}
	_, _ = br.Discard(i)
	return lines, rows, int64(i)
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// isRowLine reports whether a line is a row (parseLine's ok for a valid
// line): not blank once the first line's byte order mark is dropped.
func isRowLine(b []byte, first bool) bool {
	if first {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	return len(bytes.TrimSpace(b)) > 0
}

// parseLine extracts the row of one line; ok is false for blank lines.
func parseLine(b []byte, format string, first bool) (PromptRow, bool, error) {
	if !isRowLine(b, first) {
		return PromptRow{}, false, nil
	}
	if first {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	}
	if !utf8.Valid(b) {
		return PromptRow{}, false, errors.New("invalid UTF-8")
	}
	p := PromptRow{Prompt: string(b)}
	if format == FormatJSONL {
		var err error
		if p, err = parseJSONLine(b); err != nil {
			return PromptRow{}, false, err
		}
	}
	if err := p.check(); err != nil {
		return PromptRow{}, false, err
	}
	return p, true, nil
}

// PromptReader reads row ranges of a job's prompts: inline ones, a
// txt/jsonl/csv file streamed from its start (rows before the range are
// parsed and dropped, so memory is bounded by the range), or a Parquet
// file read from the row groups that hold the range.
type PromptReader struct {
	src    protocol.PromptSource
	format string
}

// NewPromptReader checks a source's format.
func NewPromptReader(src protocol.PromptSource) (*PromptReader, error) {
	r := &PromptReader{src: src}
	if len(src.Inline) > 0 {
		return r, nil
	}
	if src.URL == "" {
		return nil, errors.New("job has no prompts (neither inline nor a file URL)")
	}
	f, err := PromptFormat(src)
	if err != nil {
		return nil, err
	}
	r.format = f
	return r, nil
}

// Read returns prompts [start, end).
func (r *PromptReader) Read(ctx context.Context, start, end int64) ([]string, error) {
	rows, err := r.ReadRows(ctx, start, end)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, p := range rows {
		out[i] = p.Prompt
	}
	return out, nil
}

// ReadRows returns rows [start, end) with their fields.
func (r *PromptReader) ReadRows(ctx context.Context, start, end int64) ([]PromptRow, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("reading prompts: bad row range [%d, %d)", start, end)
	}
	if len(r.src.Inline) > 0 {
		// An assignment carries only its rows, starting at InlineStart.
		lo, hi := start-r.src.InlineStart, end-r.src.InlineStart
		if lo < 0 || hi > int64(len(r.src.Inline)) {
			return nil, fmt.Errorf("reading prompts: rows [%d, %d) but the inline prompts cover [%d, %d)",
				start, end, r.src.InlineStart, r.src.InlineStart+int64(len(r.src.Inline)))
		}
		out := make([]PromptRow, 0, hi-lo)
		for _, p := range r.src.Inline[lo:hi] {
			out = append(out, PromptRow{Prompt: p})
		}
		return out, nil
	}
	if r.format == FormatParquet {
		return readParquetRows(ctx, r.src.URL, start, end)
	}
	return r.readFile(ctx, start, end)
}

// readFile reads rows [start, end) of a TXT, JSONL or CSV file: from the
// source's index entry at or before start with one seek (a ranged GET on
// S3) when the job carries an index, else scanning from the file's start.
func (r *PromptReader) readFile(ctx context.Context, start, end int64) ([]PromptRow, error) {
	out := make([]PromptRow, 0, min(end-start, 1<<16))
	var rows int64
	collect := func(row, _ int64, p PromptRow) error {
		rows = row + 1
		if row >= end {
			return errStopScan
		}
		if row >= start {
			out = append(out, p)
		}
		return nil
	}
	var err error
	if row, off, ok := r.src.Index.Entry(start); ok {
		row, off = r.fineEntry(ctx, start, row, off)
		err = r.scanIndexed(ctx, scanFrom{offset: off, row: row, skip: start}, collect)
	} else {
		err = r.scanWhole(ctx, start, collect)
	}
	if err != nil && !errors.Is(err, errStopScan) {
		return nil, fmt.Errorf("reading prompts: %w", err)
	}
	if rows < end {
		return nil, fmt.Errorf("reading prompts: %s has %d prompts, the task needs rows [%d, %d)", r.src.URL, rows, start, end)
	}
	return out, nil
}

// scanWhole scans the file from its start (a job without an index).
func (r *PromptReader) scanWhole(ctx context.Context, skip int64, fn func(row, off int64, p PromptRow) error) error {
	f, err := OpenObject(ctx, r.src.URL)
	if err != nil {
		return err
	}
	defer f.Close()
	return scanAt(ctx, f, r.format, r.src.URL, scanFrom{skip: skip}, fn)
}

// CountPrompts counts a source's prompts (the Rows of a submitted job),
// checking every line (every prompt of a Parquet file) on the way.
func CountPrompts(ctx context.Context, src protocol.PromptSource) (int64, error) {
	n, _, err := IndexPrompts(ctx, src)
	return n, err
}
