package storage

import (
	"bufio"
	"context"
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
	r, err := NewPromptReader(src)
	if err != nil {
		return 0, nil, err
	}
	if len(src.Inline) > 0 {
		return int64(len(src.Inline)), nil, nil
	}
	var (
		n   int64
		idx *protocol.PromptIndex
	)
	if r.format == FormatParquet {
		n, err = countParquet(ctx, src.URL)
	} else {
		n, idx, err = indexStream(ctx, src.URL, r.format)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("counting prompts: %w", err)
	}
	if n == 0 {
		return 0, nil, fmt.Errorf("counting prompts: %s has no prompts", src.URL)
	}
	return n, idx, nil
}

func indexStream(ctx context.Context, url, format string) (int64, *protocol.PromptIndex, error) {
	f, err := OpenObject(ctx, url)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	cr := &countingReader{r: f}
	var (
		n int64
		b = newIndexBuilder()
	)
	err = scanAt(ctx, cr, format, url, scanFrom{}, func(row, off int64, _ PromptRow) error {
		b.add(row, off)
		n++
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	b.x.Size = cr.n
	return n, &b.x, nil
}

// indexBuilder collects every Stride-th row's offset; when the index is
// full it drops every other entry and doubles the stride, so it stays
// within protocol.MaxPromptIndexEntries whatever the file's size.
type indexBuilder struct{ x protocol.PromptIndex }

func newIndexBuilder() *indexBuilder {
	return &indexBuilder{x: protocol.PromptIndex{Stride: protocol.PromptIndexStride}}
}

// add records row's offset; rows come in order, each once.
func (b *indexBuilder) add(row, off int64) {
	if row%b.x.Stride != 0 {
		return
	}
	if len(b.x.Offsets) == protocol.MaxPromptIndexEntries {
		// row = Max·Stride, so it is a multiple of the doubled stride.
		for i := range len(b.x.Offsets) / 2 {
			b.x.Offsets[i] = b.x.Offsets[2*i]
		}
		b.x.Offsets = b.x.Offsets[:len(b.x.Offsets)/2]
		b.x.Stride *= 2
	}
	b.x.Offsets = append(b.x.Offsets, off)
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
