package storage

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// csvHeader maps a CSV file's columns to PromptRow fields.
type csvHeader struct {
	names                      []string
	prompt, negative, seed, id int // column indexes, -1 if absent
}

func parseCSVHeader(rec []string, name string) (csvHeader, error) {
	h := csvHeader{names: slices.Clone(rec), prompt: -1, negative: -1, seed: -1, id: -1}
	if len(rec) > 0 {
		h.names[0] = strings.TrimPrefix(h.names[0], "\ufeff")
	}
	for i, c := range h.names {
		c = strings.ToLower(strings.TrimSpace(c))
		h.names[i] = c
		switch c {
		case fieldPrompt:
			h.prompt = i
		case fieldNegative:
			h.negative = i
		case fieldSeed:
			h.seed = i
		case fieldID:
			h.id = i
		}
	}
	if h.prompt < 0 {
		return h, fmt.Errorf("%s:1: header has no %q column (columns: %s)", name, fieldPrompt, strings.Join(h.names, ", "))
	}
	if n := h.extras(); n > MaxExtraFields { // refused at submit, not shard by shard on the nodes
		return h, fmt.Errorf("%s:1: header has %d extra columns, more than the limit of %d", name, n, MaxExtraFields)
	}
	return h, nil
}

// extras is how many columns are extra fields (PromptRow.Extra).
func (h csvHeader) extras() int {
	n := len(h.names)
	for _, i := range []int{h.prompt, h.negative, h.seed, h.id} {
		if i >= 0 {
			n--
		}
	}
	return n
}

// row turns a record into a PromptRow; extra columns become Extra
// strings (empty cells are left out).
func (h csvHeader) row(rec []string) (PromptRow, error) {
	p := PromptRow{Prompt: rec[h.prompt]}
	if h.negative >= 0 {
		p.NegativePrompt = rec[h.negative]
	}
	if h.id >= 0 {
		p.ID = rec[h.id]
	}
	if h.seed >= 0 && strings.TrimSpace(rec[h.seed]) != "" {
		s, err := parseSeed(rec[h.seed])
		if err != nil {
			return p, err
		}
		p.Seed = &s
	}
	for i, v := range rec {
		if i == h.prompt || i == h.negative || i == h.id || i == h.seed || v == "" {
			continue
		}
		if p.Extra == nil {
			p.Extra = map[string]json.RawMessage{}
		}
		js, _ := json.Marshal(v)
		p.Extra[h.names[i]] = js
	}
	return p, p.check()
}

// scanCSV streams a CSV file with a header row. Rows whose prompt is
// blank are skipped (not rows), like blank lines of the other formats.
// Errors name the file, the line and (where known) the column. From a
// record start other than the file's (at.offset > 0) the header is
// at.header and every record must have its columns.
func scanCSV(ctx context.Context, r io.Reader, name string, at scanFrom, fn func(row, off int64, p PromptRow) error) error {
	cr := csv.NewReader(&limitedLines{r: r})
	cr.ReuseRecord = true
	h, err := readCSVHeader(cr, name, at)
	if err != nil || h == nil {
		return err
	}
	row := at.row
	for {
		off := at.offset + cr.InputOffset() // the end of the last record: this one's start
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return csvErr(name, err)
		}
		line, _ := cr.FieldPos(0)
		if row%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p, err := h.row(rec)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if strings.TrimSpace(p.Prompt) == "" {
			continue
		}
		if err := fn(row, off, p); err != nil {
			return err
		}
		row++
	}
}

// readCSVHeader returns at.header, or reads the header from cr at the
// file's start (nil, nil for an empty file: no rows, which CountPrompts
// reports).
func readCSVHeader(cr *csv.Reader, name string, at scanFrom) (*csvHeader, error) {
	if at.header != nil {
		cr.FieldsPerRecord = len(at.header.names)
		return at.header, nil
	}
	if at.offset != 0 {
		return nil, fmt.Errorf("%s: a CSV read from a record start needs the header", name)
	}
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, csvErr(name, err)
	}
	h, err := parseCSVHeader(head, name)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// csvFileHeader reads the header of the CSV file r (from its start).
func csvFileHeader(r io.Reader, name string) (*csvHeader, error) {
	h, err := readCSVHeader(csv.NewReader(&limitedLines{r: r}), name, scanFrom{})
	if err == nil && h == nil {
		err = fmt.Errorf("%s: empty file, no header", name)
	}
	return h, err
}

func csvErr(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: column %d: %w", name, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// limitedLines fails a read once a single line (a CSV record may span
// several when quoted) exceeds MaxLineBytes·4, so a file without
// newlines is never buffered whole.
type limitedLines struct {
	r   io.Reader
	run int
}

func (l *limitedLines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
		} else {
			l.run++
		}
	}
	if l.run > 4*MaxLineBytes {
		return n, fmt.Errorf("line longer than %d bytes", 4*MaxLineBytes)
	}
	return n, err
}
