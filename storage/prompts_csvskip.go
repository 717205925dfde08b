package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
)

// skipCSVRows consumes up to n rows of a CSV file from a record start
// without splitting them into fields: a byte scan that follows quotes (a
// quoted field may span lines; "" is an escaped quote) and, like
// scanCSV, passes over empty lines and records whose prompt (column
// prompt) is blank, which are not rows. It stops after the n-th row's
// line ending and returns the bytes consumed and the rows skipped (fewer
// than n at the end of the file). The file was checked at submit, so it
// is valid CSV. A task whose range starts just before an index entry
// skips up to Stride rows this way, several times faster than
// encoding/csv.
func skipCSVRows(ctx context.Context, br *bufio.Reader, prompt int, n int64) (consumed, rows int64, err error) {
	s := csvSkip{prompt: prompt}
	for chunks := 1; rows < n; chunks++ {
		if chunks%4096 == 0 && ctx.Err() != nil {
			return consumed, rows, ctx.Err()
		}
		chunk, rerr := br.ReadSlice('\n')
		consumed += int64(len(chunk))
		if s.feed(chunk) && s.endRecord() {
			rows++ // a record ends only at '\n', the chunk's last byte
		}
		switch {
		case errors.Is(rerr, io.EOF):
			if s.n > 0 && s.endRecord() { // a last record without a line ending
				rows++
			}
			return consumed, rows, nil
		case rerr != nil && !errors.Is(rerr, bufio.ErrBufferFull):
			return consumed, rows, rerr
		}
	}
	return consumed, rows, nil
}

// csvSkip is skipCSVRows's state within one record.
type csvSkip struct {
	prompt, field   int
	inQuotes, after bool // after: the byte before closed a quoted field
	n               int  // bytes of the record before its '\n'
	first           byte
	nonBlank        bool
	wide            []byte // the prompt's non-ASCII bytes while no other is seen
}

// feed takes the bytes of a line (up to and including '\n', or a part of
// a long line) and reports whether they ended the record: quoted runs go
// by bytes.IndexByte, unquoted ones by a loop over three bytes.
func (s *csvSkip) feed(b []byte) bool {
	for len(b) > 0 {
		if s.n == 0 {
			s.first = b[0]
		}
		if s.inQuotes {
			j := bytes.IndexByte(b, '"')
			if j < 0 {
				s.content(b)
				s.n += len(b)
				return false
			}
			s.content(b[:j])
			s.inQuotes, s.after = false, true
			s.n += j + 1
			b = b[j+1:]
			continue
		}
		switch b[0] {
		case '"':
			if s.after {
				s.content([]byte{'"'}) // "" inside a quoted field
			}
			s.inQuotes, s.after = true, false
		case '\n':
			return true
		case ',':
			s.field, s.after = s.field+1, false
		default:
			j := 1
			for j < len(b) && b[j] != ',' && b[j] != '"' && b[j] != '\n' {
				j++
			}
			s.content(b[:j])
			s.n, s.after, b = s.n+j, false, b[j:]
			continue
		}
		s.n++
		b = b[1:]
	}
	return false
}

// content notes the bytes of a field: only the prompt's, until one that
// is not an ASCII blank is seen (non-ASCII bytes are kept for endRecord).
func (s *csvSkip) content(b []byte) {
	if s.field != s.prompt || s.nonBlank {
		return
	}
	for _, c := range b {
		switch {
		case c >= 0x80:
			s.wide = append(s.wide, c)
		case c != ' ' && (c < '\t' || c > '\r'):
			s.nonBlank = true
			return
		}
	}
}

// endRecord reports whether the record just ended is a row (not an empty
// line, and its prompt not blank, as unicode.IsSpace counts blanks), and
// resets the state for the next record.
func (s *csvSkip) endRecord() bool {
	empty := s.n == 0 || s.n == 1 && s.first == '\r'
	row := !empty && (s.nonBlank || len(bytes.TrimSpace(s.wide)) > 0)
	*s = csvSkip{prompt: s.prompt, wide: s.wide[:0]}
	return row
}
