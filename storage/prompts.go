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
	return scanRows(ctx, r, format, name, 0, fn)
}

// scanRows is ScanRows where txt and jsonl rows before from are counted
// but not parsed (nor passed to fn): a task reading rows near the end of
// a big file only splits lines until its range (every line was checked
// when the job was submitted, by CountPrompts).
func scanRows(ctx context.Context, r io.Reader, format, name string, from int64, fn func(row int64, p PromptRow) error) error {
	switch format {
	case FormatCSV:
		return scanCSV(ctx, r, name, fn)
	case FormatTXT, FormatJSONL:
	default:
		return fmt.Errorf("%s: prompt format %q cannot be streamed", name, format)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var row int64
	for line := int64(1); ; line++ {
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		b, err := readLine(br)
		if errors.Is(err, io.EOF) && b == nil {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if row < from && len(bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))) > 0 {
			row++
			if err != nil {
				return nil
			}
			continue
		}
		p, ok, perr := parseLine(b, format, line == 1)
		if perr != nil {
			return fmt.Errorf("%s:%d: %w", name, line, perr)
		}
		if ok {
			if err := fn(row, p); err != nil {
				return err
			}
			row++
		}
		if err != nil { // io.EOF after a last line without newline
			return nil
		}
	}
}

// readLine returns the next line without its line ending; (nil, io.EOF)
// at the end. A line over MaxLineBytes is an error (the rest is not read).
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+2 {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		buf = append(buf, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 {
				return nil, io.EOF
			}
			return trimEOL(buf), io.EOF
		case err != nil:
			return nil, err
		}
		return trimEOL(buf), nil
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// parseLine extracts the row of one line; ok is false for blank lines.
func parseLine(b []byte, format string, first bool) (PromptRow, bool, error) {
	if first {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return PromptRow{}, false, nil
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

func (r *PromptReader) readFile(ctx context.Context, start, end int64) ([]PromptRow, error) {
	f, err := OpenObject(ctx, r.src.URL)
	if err != nil {
		return nil, fmt.Errorf("reading prompts: %w", err)
	}
	defer f.Close()
	out := make([]PromptRow, 0, min(end-start, 1<<16))
	var rows int64
	err = scanRows(ctx, f, r.format, r.src.URL, start, func(row int64, p PromptRow) error {
		rows = row + 1
		if row >= end {
			return errStopScan
		}
		if row >= start {
			out = append(out, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return nil, fmt.Errorf("reading prompts: %w", err)
	}
	if rows < end {
		return nil, fmt.Errorf("reading prompts: %s has %d prompts, the task needs rows [%d, %d)", r.src.URL, rows, start, end)
	}
	return out, nil
}

// CountPrompts counts a source's prompts (the Rows of a submitted job),
// checking every line (every prompt of a Parquet file) on the way.
func CountPrompts(ctx context.Context, src protocol.PromptSource) (int64, error) {
	r, err := NewPromptReader(src)
	if err != nil {
		return 0, err
	}
	if len(src.Inline) > 0 {
		return int64(len(src.Inline)), nil
	}
	var n int64
	if r.format == FormatParquet {
		n, err = countParquet(ctx, src.URL)
	} else {
		n, err = countStream(ctx, src.URL, r.format)
	}
	if err != nil {
		return 0, fmt.Errorf("counting prompts: %w", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("counting prompts: %s has no prompts", src.URL)
	}
	return n, nil
}

func countStream(ctx context.Context, url, format string) (int64, error) {
	f, err := OpenObject(ctx, url)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	err = ScanRows(ctx, f, format, url, func(int64, PromptRow) error { n++; return nil })
	return n, err
}
