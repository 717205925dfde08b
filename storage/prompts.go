package storage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	case FormatTXT, FormatJSONL:
		return f, nil
	case "ndjson":
		return FormatJSONL, nil
	case "csv", "parquet":
		return "", fmt.Errorf("prompt format %s is %w (use txt or jsonl)", f, ErrNotSupported)
	}
	return "", fmt.Errorf("prompt file %q: unknown format %q (want txt or jsonl)", src.URL, f)
}

// ScanPrompts streams the prompts of r, a file in format (name is used in
// errors: "name:line: problem"), calling fn with each prompt's row number
// (0-based; blank lines are not rows). It stops at fn's first error. A
// line longer than MaxLineBytes, invalid UTF-8, bad JSON, or a prompt over
// protocol.MaxPromptBytes is an error naming the file and line.
func ScanPrompts(ctx context.Context, r io.Reader, format, name string, fn func(row int64, prompt string) error) error {
	if format != FormatTXT && format != FormatJSONL {
		return fmt.Errorf("%s: unknown prompt format %q", name, format)
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
		prompt, ok, perr := parseLine(b, format, line == 1)
		if perr != nil {
			return fmt.Errorf("%s:%d: %w", name, line, perr)
		}
		if ok {
			if err := fn(row, prompt); err != nil {
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

// parseLine extracts the prompt of one line; ok is false for blank lines.
func parseLine(b []byte, format string, first bool) (string, bool, error) {
	if first {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "", false, nil
	}
	if !utf8.Valid(b) {
		return "", false, errors.New("invalid UTF-8")
	}
	prompt := string(b)
	if format == FormatJSONL {
		var err error
		if prompt, err = parseJSONLine(b); err != nil {
			return "", false, err
		}
	}
	if len(prompt) > protocol.MaxPromptBytes {
		return "", false, fmt.Errorf("prompt is %d bytes, longer than the limit of %d", len(prompt), protocol.MaxPromptBytes)
	}
	return prompt, true, nil
}

// parseJSONLine accepts a JSON string or an object with a string "prompt"
// (or "text", or "caption") field.
func parseJSONLine(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", fmt.Errorf("invalid JSON string: %w", err)
		}
		return s, nil
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		return "", fmt.Errorf("invalid JSON record (want a string or an object with a \"prompt\" field): %w", err)
	}
	for _, k := range []string{"prompt", "text", "caption"} {
		raw, ok := rec[k]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("field %q is not a string", k)
		}
		return s, nil
	}
	return "", errors.New(`record has no "prompt" field`)
}

// PromptReader reads row ranges of a job's prompts: inline ones, or a
// txt/jsonl file streamed from its start (rows before the range are
// parsed and dropped, so memory is bounded by the range).
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
		return r.src.Inline[lo:hi], nil
	}
	return r.readFile(ctx, start, end)
}

func (r *PromptReader) readFile(ctx context.Context, start, end int64) ([]string, error) {
	f, err := OpenObject(ctx, r.src.URL)
	if err != nil {
		return nil, fmt.Errorf("reading prompts: %w", err)
	}
	defer f.Close()
	out := make([]string, 0, min(end-start, 1<<16))
	var rows int64
	err = ScanPrompts(ctx, f, r.format, r.src.URL, func(row int64, p string) error {
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
// checking every line on the way.
func CountPrompts(ctx context.Context, src protocol.PromptSource) (int64, error) {
	r, err := NewPromptReader(src)
	if err != nil {
		return 0, err
	}
	if len(src.Inline) > 0 {
		return int64(len(src.Inline)), nil
	}
	f, err := OpenObject(ctx, src.URL)
	if err != nil {
		return 0, fmt.Errorf("counting prompts: %w", err)
	}
	defer f.Close()
	var n int64
	err = ScanPrompts(ctx, f, r.format, src.URL, func(int64, string) error { n++; return nil })
	if err != nil {
		return 0, fmt.Errorf("counting prompts: %w", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("counting prompts: %s has no prompts", src.URL)
	}
	return n, nil
}
