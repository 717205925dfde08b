package storage

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/sanafarm/sanafarm/protocol"
)

// IndexPrompts counts a source's prompts like CountPrompts and, for a
// TXT, JSONL or CSV file, builds its protocol.PromptIndex in the same
// pass: the byte offset of every Stride-th row, so that a task reads its
// range with one seek (PromptReader). Inline sources and Parquet files
// (read by row group) get no index.
func IndexPrompts(ctx context.Context, src protocol.PromptSource) (int64, *protocol.PromptIndex, error) {
	n, idx, _, err := IndexPromptsFine(ctx, src)
	if idx != nil {
		idx.Fine = 0
	}
	return n, idx, err
}

// IndexPromptsFine is IndexPrompts that also returns the index's fine
// level (protocol.PromptIndex.Fine): the bytes to store at the file's URL
// + protocol.FineIndexSuffix. A caller that does not store them must set
// Fine to 0.
func IndexPromptsFine(ctx context.Context, src protocol.PromptSource) (int64, *protocol.PromptIndex, []byte, error) {
	r, err := NewPromptReader(src)
	if err != nil {
		return 0, nil, nil, err
	}
	if len(src.Inline) > 0 {
		return int64(len(src.Inline)), nil, nil, nil
	}
	var (
		n    int64
		idx  *protocol.PromptIndex
		fine []byte
	)
	if r.format == FormatParquet {
		n, err = countParquet(ctx, src.URL)
	} else {
		n, idx, fine, err = indexStream(ctx, src.URL, r.format)
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("counting prompts: %w", err)
	}
	if n == 0 {
		return 0, nil, nil, fmt.Errorf("counting prompts: %s has no prompts", src.URL)
	}
	return n, idx, fine, nil
}

func indexStream(ctx context.Context, url, format string) (int64, *protocol.PromptIndex, []byte, error) {
	f, err := OpenObject(ctx, url)
	if err != nil {
		return 0, nil, nil, err
	}
	defer f.Close()
	cr := &countingReader{r: f}
	var (
		n      int64
		coarse = indexLevel{stride: protocol.PromptIndexStride, max: protocol.MaxPromptIndexEntries}
		fine   = indexLevel{stride: protocol.FineIndexStride, max: protocol.MaxFineIndexEntries}
	)
	err = scanAt(ctx, cr, format, url, scanFrom{}, func(row, off int64, _ PromptRow) error {
		coarse.add(row, off)
		fine.add(row, off)
		n++
		return nil
	})
	if err != nil {
		return 0, nil, nil, err
	}
	x := &protocol.PromptIndex{Size: cr.n, Stride: coarse.stride, Offsets: coarse.offsets, Fine: fine.stride}
	enc := make([]byte, 0, 8*len(fine.offsets))
	for _, o := range fine.offsets {
		enc = binary.LittleEndian.AppendUint64(enc, uint64(o))
	}
	return n, x, enc, nil
}

// indexLevel collects every stride-th row's offset; when it holds max
// entries it drops every other one and doubles the stride, so it stays
// bounded whatever the file's size (strides stay powers of two, so the
// fine level's divides the coarse one's).
type indexLevel struct {
	stride  int64
	offsets []int64
	max     int
}

// add records row's offset; rows come in order, each once.
func (l *indexLevel) add(row, off int64) {
	if row%l.stride != 0 {
		return
	}
	if len(l.offsets) == l.max {
		// row = max·stride, so it is a multiple of the doubled stride.
		for i := range len(l.offsets) / 2 {
			l.offsets[i] = l.offsets[2*i]
		}
		l.offsets = l.offsets[:len(l.offsets)/2]
		l.stride *= 2
	}
	l.offsets = append(l.offsets, off)
}

// countingReader counts the bytes read through it (the file's size once
// a scan reaches the end).
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// scanIndexed scans the file from an index entry (at.offset, at.row):
// one seek, or one ranged GET on S3, plus a read of the CSV header from
// the start. A file whose size is not the indexed one changed since the
// job was submitted: its rows no longer match the job's row count and
// shards, so it is an error rather than a silently different dataset
// (uploaded inputs are content-addressed and never change). An offset
// that does not follow a newline is a corrupt index, also an error.
func (r *PromptReader) scanIndexed(ctx context.Context, at scanFrom, fn func(row, off int64, p PromptRow) error) error {
	url := r.src.URL
	f, size, err := OpenObjectAt(ctx, url, max(at.offset-1, 0))
	if err != nil {
		return err
	}
	defer f.Close()
	if size != r.src.Index.Size {
		return fmt.Errorf("%s is %d bytes but was %d when the job was submitted: the file changed since; submit the job again",
			url, size, r.src.Index.Size)
	}
	if at.offset > 0 {
		var nl [1]byte
		if _, err := io.ReadFull(f, nl[:]); err != nil || nl[0] != '\n' {
			return fmt.Errorf("%s: prompt index entry for row %d, byte offset %d, is not a line start (%v)", url, at.row, at.offset, err)
		}
	}
	var rd io.Reader = f
	if r.format == FormatCSV && at.offset > 0 {
		if at.header, err = r.csvHeader(ctx); err != nil {
			return err
		}
		br := bufio.NewReaderSize(f, 64<<10)
		n, rows, err := skipCSVRows(ctx, br, at.header.prompt, at.skip-at.row)
		if err != nil {
			return fmt.Errorf("%s: %w", at.name(url), err)
		}
		at.offset, at.row, rd = at.offset+n, at.row+rows, br
	}
	return scanAt(ctx, rd, r.format, url, at, fn)
}

// csvHeader reads the CSV file's header from its start.
func (r *PromptReader) csvHeader(ctx context.Context) (*csvHeader, error) {
	f, err := OpenObject(ctx, r.src.URL)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csvFileHeader(f, r.src.URL)
}

// fineEntry returns the fine index's entry for row start (the row and
// offset to scan from), or the coarse entry (row, off) when the job has
// no fine index or it cannot be used: missing, of the wrong size for
// the job's rows, or an offset outside [off, Size) — falling back to the
// coarse entry only costs time. An offset in range that is not a line
// start fails the read like a bad coarse one (scanIndexed).
func (r *PromptReader) fineEntry(ctx context.Context, start, row, off int64) (int64, int64) {
	x := r.src.Index
	if x.Fine <= 0 || r.src.Rows <= 0 || x.Stride%x.Fine != 0 {
		return row, off
	}
	e := start / x.Fine
	f, size, err := OpenObjectAt(ctx, r.src.URL+protocol.FineIndexSuffix, 8*e)
	if err != nil {
		return row, off
	}
	defer f.Close()
	var b [8]byte
	if size != 8*((r.src.Rows+x.Fine-1)/x.Fine) || e*x.Fine < row {
		return row, off
	}
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return row, off
	}
	fo := int64(binary.LittleEndian.Uint64(b[:]))
	if fo < off || fo >= x.Size || e*x.Fine == row && fo != off {
		return row, off
	}
	return e * x.Fine, fo
}
