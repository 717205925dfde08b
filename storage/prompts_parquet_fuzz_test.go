package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sanafarm/sanafarm/protocol"
)

// withFooter is a Parquet file with its footer (FileMetaData, Parquet's
// format spec) changed by edit, as a careless or hostile writer leaves it.
func withFooter(tb testing.TB, data []byte, edit func(md *format.FileMetaData)) []byte {
	tb.Helper()
	size := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	footer := data[len(data)-8-size : len(data)-8]
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, &md); err != nil {
		tb.Fatal(err)
	}
	edit(&md)
	b, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		tb.Fatal(err)
	}
	out := append(bytes.Clone(data[:len(data)-8-size]), b...)
	return append(binary.LittleEndian.AppendUint32(out, uint32(len(b))), "PAR1"...)
}

// parquetPromptSeeds are Parquet prompt files: the package's own shard
// Parquet (a "prompt" column among the manifest's), a plain prompt file of
// three row groups, one with invalid UTF-8, and broken ones.
func parquetPromptSeeds(tb testing.TB) (shardPQ, plain []byte, seeds [][]byte) {
	shardPQ = writeFuzzShard(tb, FormatWebDataset).objects[ShardParquetKey("p", fuzzShard)]
	var err error
	if plain, err = os.ReadFile(writeParquetPrompts(tb, 10, 4)); err != nil {
		tb.Fatal(err)
	}
	var bad bytes.Buffer
	w := parquet.NewGenericWriter[struct {
		Prompt string `parquet:"prompt"`
		Seed   string `parquet:"seed"`
	}](&bad)
	if _, err := w.Write([]struct {
		Prompt string `parquet:"prompt"`
		Seed   string `parquet:"seed"`
	}{{"ok", "1"}, {"\xff", "2"}, {"x", "-1"}}); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	bomb := append(bytes.Clone(plain[:len(plain)-8]), 0xf0, 0xff, 0xff, 0xff, 'P', 'A', 'R', '1')
	seeds = [][]byte{shardPQ, plain, bad.Bytes(), withFooter(tb, plain, func(md *format.FileMetaData) { md.NumRows = 14 }),
		withFooter(tb, plain, func(md *format.FileMetaData) { md.NumRows = 3 }),
		// The page index: one past the index region (parquet-go panicked
		// slicing it), one claiming 1 GiB (it allocated that).
		withFooter(tb, plain, func(md *format.FileMetaData) {
			c := md.RowGroups[0].Columns
			c[len(c)-1].OffsetIndexOffset += 100
		}),
		withFooter(tb, plain, func(md *format.FileMetaData) { md.RowGroups[0].Columns[0].ColumnIndexLength = 1 << 30 }),
		plain[:len(plain)/2], bomb, []byte("PAR1PAR1"), []byte("PAR1\x00\x00\x00\x00PAR1"), nil}
	return shardPQ, plain, seeds
}

// FuzzParquetPrompts: a Parquet prompt file (a job's input, from anyone
// who can write the bucket) is counted and read within bounded memory (a
// small multiple of its size), every error names the file, a read of rows
// [0, k) returns k rows that obey the limits every prompt format obeys,
// the seed/id/negative columns never left among the extras, a read from
// any row equals the whole read's tail, and the package's own Parquet
// and a plain prompt file read back as written.
func FuzzParquetPrompts(f *testing.F) {
	shardPQ, plain, seeds := parquetPromptSeeds(f)
	for i, b := range seeds {
		f.Add(b, uint8(i))
	}
	path := filepath.Join(f.TempDir(), "p.parquet")
	f.Fuzz(func(t *testing.T, data []byte, start uint8) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		src := protocol.PromptSource{URL: path}
		var n, k int64
		var rows []PromptRow
		var err error
		used := allocated(func() {
			if n, err = CountPrompts(ctx, src); err == nil {
				k = min(n, 16)
				rows, err = readPromptRange(ctx, src, 0, k)
			}
		})
		if used > 64<<20+256*uint64(len(data)) {
			t.Fatalf("a %d-byte file: allocated %d bytes", len(data), used)
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			if bytes.Equal(data, shardPQ) || bytes.Equal(data, plain) {
				t.Fatalf("a valid file refused: %v", err)
			}
			return
		}
		if n < 0 || int64(len(rows)) != k {
			t.Fatalf("the file has %d rows: rows [0, %d) gave %d", n, k, len(rows))
		}
		checkParquetRows(t, rows)
		if j := int64(start) % (k + 1); j > 0 {
			tail, err := readPromptRange(ctx, src, j, k)
			if err != nil || !reflect.DeepEqual(tail, rows[j:]) {
				t.Fatalf("rows [%d, %d): %+v, %v; the whole read has %+v", j, k, tail, err, rows[j:])
			}
		}
		checkParquetSeeds(t, data, shardPQ, plain, n, rows)
	})
}

func readPromptRange(ctx context.Context, src protocol.PromptSource, start, end int64) ([]PromptRow, error) {
	r, err := NewPromptReader(src)
	if err != nil {
		return nil, err
	}
	return r.ReadRows(ctx, start, end)
}

// checkParquetRows: the limits of every prompt format, and the columns
// with a meaning are never extras (whose values are JSON).
func checkParquetRows(t *testing.T, rows []PromptRow) {
	t.Helper()
	for i, p := range rows {
		if err := p.check(); err != nil {
			t.Fatalf("row %d accepted: %v", i, err)
		}
		for k, v := range p.Extra {
			if k == fieldPrompt || k == fieldSeed || k == fieldNegative || k == fieldID || !json.Valid(v) {
				t.Fatalf("row %d: extra %q = %s", i, k, v)
			}
		}
	}
}

// checkParquetSeeds: the package's shard Parquet and the plain prompt
// file read back as written.
func checkParquetSeeds(t *testing.T, data, shardPQ, plain []byte, n int64, rows []PromptRow) {
	t.Helper()
	switch {
	case bytes.Equal(data, shardPQ):
		if n != 4 {
			t.Fatalf("shard Parquet: %d rows, want 4", n)
		}
		for i, p := range rows[:3] {
			want := testSample(70 + int64(i))
			if p.Prompt != want.Prompt || p.Seed == nil || *p.Seed != want.Seed || p.ID != fmt.Sprint("row-", i) {
				t.Fatalf("shard Parquet row %d: %+v", i, p)
			}
		}
	case bytes.Equal(data, plain):
		if n != 10 {
			t.Fatalf("prompt file: %d rows, want 10", n)
		}
		for i, p := range rows {
			if p.Prompt != fmt.Sprint("prompt ", i) || p.Seed == nil || *p.Seed != uint64(3*i) {
				t.Fatalf("prompt file row %d: %+v", i, p)
			}
		}
	}
}
