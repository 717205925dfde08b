package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// indexCase is a prompt file with the quirks an offset must step over.
type indexCase struct {
	name, file string
	rows       int64
}

// indexCases builds files of n rows in each format: a BOM on line 1,
// JSONL lines longer than the read buffer,
// blank lines that are not rows, CRLF endings, CSV records whose quoted
// prompt spans lines, CSV rows with a blank prompt (ASCII or Unicode
// spaces: not rows) and prompts of non-ASCII letters or escaped quotes.
func indexCases(n int) []indexCase {
	var txt, jsonl, crlf, csv, csvML strings.Builder
	txt.WriteString("\ufeff")
	jsonl.WriteString("\ufeff")
	csv.WriteString("\ufeffid,prompt,seed\r\n")
	csvML.WriteString("prompt,style\n")
	for i := range n {
		if i%7 == 3 {
			txt.WriteString("\n   \n")
			jsonl.WriteString("\n")
			crlf.WriteString("\r\n")
			csv.WriteString("x,\"  \",1\r\n\r\n")           // a blank prompt and a blank line
			csv.WriteString("y,\u00a0\u3000\u2028,2\n\r\n") // a prompt of Unicode spaces: not a row
			csvML.WriteString("\n")
		}
		fmt.Fprintf(&txt, "prompt %d ünïcode\n", i)
		if i == 5 || i == n-2 { // a line longer than the read buffer (64 KiB)
			fmt.Fprintf(&jsonl, "{\"prompt\": \"long %d\", \"pad\": %q}\n", i, strings.Repeat("p", 100<<10))
		} else {
			fmt.Fprintf(&jsonl, "{\"prompt\": \"row %d\\nescaped\", \"seed\": %d}\n", i, i)
		}
		fmt.Fprintf(&crlf, "crlf %d\r\n", i)
		if i%5 == 2 {
			fmt.Fprintf(&csv, "%d,\u00e9\u3000,%d\n", i, i) // non-ASCII only
		} else if i%5 == 4 {
			fmt.Fprintf(&csv, "%d,\"\"\"\"\"\",%d\n", i, i) // a prompt of two escaped quotes
		} else {
			fmt.Fprintf(&csv, "%d,\"a fox, \"\"%d\"\"\",%d\r\n", i, i, i)
		}
		fmt.Fprintf(&csvML, "\"line one %d\nline two\r\nline three\",s%d\n", i, i)
	}
	last := func(s string) string { return strings.TrimSuffix(s, "\n") } // no final newline
	return []indexCase{
		{"txt, BOM and blank lines.txt", txt.String(), int64(n)},
		{"txt, no final newline.txt", last(txt.String()), int64(n)},
		{"jsonl.jsonl", jsonl.String(), int64(n)},
		{"crlf.txt", crlf.String(), int64(n)},
		{"csv, BOM, CRLF, blank prompts.csv", csv.String(), int64(n)},
		{"csv, multi-line quoted.csv", csvML.String(), int64(n)},
	}
}

// indexWithStride builds an index of any stride from the scan's offsets
// (the real one starts at PromptIndexStride rows).
func indexWithStride(t *testing.T, path, format string, stride int64) *protocol.PromptIndex {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	x := &protocol.PromptIndex{Size: st.Size(), Stride: stride}
	err = scanAt(context.Background(), f, format, path, scanFrom{}, func(row, off int64, _ PromptRow) error {
		if row%stride == 0 {
			x.Offsets = append(x.Offsets, off)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestIndexedReadsMatchFullScan: every range read from an index entry
// (each entry as a trimmed assignment carries it) equals the full scan.
func TestIndexedReadsMatchFullScan(t *testing.T) {
	for _, c := range indexCases(40) {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, strings.ReplaceAll(c.name, " ", "_"), c.file)
			plain := protocol.PromptSource{URL: path, Rows: c.rows}
			format, _ := PromptFormat(plain)
			whole := readRange(t, plain, 0, c.rows)
			for _, stride := range []int64{1, 3, 8} {
				x := indexWithStride(t, path, format, stride)
				spec := protocol.JobSpec{Prompts: protocol.PromptSource{URL: path, Rows: c.rows, Index: x}}
				if err := spec.Prompts.Index.Check(c.rows); err != nil {
					t.Fatal(err)
				}
				for start := range c.rows {
					for _, n := range []int64{1, 2, stride, stride + 1, c.rows - start} {
						end := min(start+n, c.rows)
						src := spec.ForSamples(start, end).Prompts
						if got := readRange(t, src, start, end); !reflect.DeepEqual(got, whole[start:end]) {
							t.Fatalf("stride %d, rows [%d, %d): indexed read %v, want %v", stride, start, end, got, whole[start:end])
						}
					}
				}
			}
		})
	}
}

func readRange(t *testing.T, src protocol.PromptSource, start, end int64) []PromptRow {
	t.Helper()
	r, err := NewPromptReader(src)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := r.ReadRows(context.Background(), start, end)
	if err != nil {
		t.Fatalf("rows [%d, %d): %v", start, end, err)
	}
	return rows
}

// TestIndexPrompts: the index built at submit has one entry per
// PromptIndexStride rows, at the offsets a scan reports, and its size.
func TestIndexPrompts(t *testing.T) {
	ctx := context.Background()
	for _, c := range indexCases(2*protocol.PromptIndexStride + 5) {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, strings.ReplaceAll(c.name, " ", "_"), c.file)
			n, x, err := IndexPrompts(ctx, protocol.PromptSource{URL: path})
			if err != nil || n != c.rows {
				t.Fatalf("IndexPrompts = %d, %v; want %d rows", n, err, c.rows)
			}
			format, _ := PromptFormat(protocol.PromptSource{URL: path})
			if want := indexWithStride(t, path, format, protocol.PromptIndexStride); !reflect.DeepEqual(x, want) {
				t.Fatalf("index %+v, want %+v", x, want)
			}
			spec := protocol.JobSpec{Model: "sana-tiny", Output: protocol.OutputSpec{URL: "/o"},
				Prompts: protocol.PromptSource{URL: path, Rows: n, Index: x}}
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestIndexBuilderBound: past MaxPromptIndexEntries entries the stride
// doubles and every kept entry still names its row.
func TestIndexBuilderBound(t *testing.T) {
	for _, rows := range []int64{1, 1024, 1025, protocol.MaxPromptIndexEntries * 1024, protocol.MaxPromptIndexEntries*1024 + 1, 5_000_000} {
		l := indexLevel{stride: protocol.PromptIndexStride, max: protocol.MaxPromptIndexEntries}
		for r := range rows {
			l.add(r, 10*r)
		}
		if len(l.offsets) > l.max || int64(len(l.offsets)) != (rows+l.stride-1)/l.stride {
			t.Fatalf("%d rows: %d entries of stride %d", rows, len(l.offsets), l.stride)
		}
		for i, o := range l.offsets {
			if o != 10*int64(i)*l.stride {
				t.Fatalf("%d rows: entry %d at %d, want row %d's", rows, i, o, int64(i)*l.stride)
			}
		}
	}
}

// TestIndexedReadRefusesChangedFile: a file whose size differs from the
// index, or an offset that is not a line start, is an error, never rows.
func TestIndexedReadRefusesChangedFile(t *testing.T) {
	ctx := context.Background()
	path := writeFile(t, "p.txt", "a\nbb\nccc\ndddd\n")
	x := &protocol.PromptIndex{Size: 14, Stride: 2, Offsets: []int64{0, 5}}
	fine := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 0), 6)
	if err := os.WriteFile(path+protocol.FineIndexSuffix, fine, 0o644); err != nil {
		t.Fatal(err)
	}
	src := protocol.PromptSource{URL: path, Rows: 4, Index: x}
	if got := readRange(t, src, 2, 4); got[0].Prompt != "ccc" || got[1].Prompt != "dddd" {
		t.Fatalf("rows %v", got)
	}
	for _, c := range []struct {
		name string
		x    protocol.PromptIndex
		want string
	}{
		{"changed size", protocol.PromptIndex{Size: 15, Stride: 2, Offsets: []int64{0, 5}}, "changed"},
		{"mid-line offset", protocol.PromptIndex{Size: 14, Stride: 2, Offsets: []int64{0, 6}}, "not a line start"},
		// the fine level is used: its entry for row 2 (byte 6) is mid-line
		{"mid-line fine offset", protocol.PromptIndex{Size: 14, Stride: 4, Offsets: []int64{0}, Fine: 2}, "not a line start"},
	} {
		src.Index = &c.x
		r, _ := NewPromptReader(src)
		if _, err := r.ReadRows(ctx, 2, 4); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// FuzzIndexedRead: for any file that scans, a read from each entry of an
// index of stride 2 (skipping a row: skipCSVRows for CSV) equals the
// full scan's rows.
func FuzzIndexedRead(f *testing.F) {
	for _, c := range indexCases(6) {
		f.Add([]byte(c.file), uint8(len(c.name)))
	}
	f.Add([]byte("prompt\n\"a\r\nb\"\n\n\"\"\"c\"\n"), uint8(2))
	f.Add([]byte("1,\"a\r\nb\"\n\n2,\"\"\"c\"\n3, \u00a0\n4,\"\"\r\n5,é\r"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		format := []string{FormatTXT, FormatJSONL, FormatCSV, FormatCSV}[int(pick)%4]
		if pick%4 == 3 { // CSV records under a fixed header, so mutations stay readable
			data = append([]byte("id,prompt\n"), data...)
		}
		path := writeFile(t, "p."+format, string(data))
		n, x, err := IndexPrompts(context.Background(), protocol.PromptSource{URL: path})
		if err != nil || n > 64 {
			return
		}
		if x.Size != int64(len(data)) {
			t.Fatalf("index size %d, file %d bytes", x.Size, len(data))
		}
		x = indexWithStride(t, path, format, 2)
		whole := readRange(t, protocol.PromptSource{URL: path, Rows: n}, 0, n)
		for start := range n {
			src := protocol.JobSpec{Prompts: protocol.PromptSource{URL: path, Rows: n, Index: x}}.ForSamples(start, n).Prompts
			if got := readRange(t, src, start, n); !reflect.DeepEqual(got, whole[start:]) {
				t.Fatalf("%s rows [%d, %d): indexed %+v, want %+v", format, start, n, got, whole[start:])
			}
		}
	})
}

// TestFineIndexReads: with a fine level stored next to the file, every
// range read equals the full scan; a missing or truncated fine index
// falls back to the coarse entries, still exact.
func TestFineIndexReads(t *testing.T) {
	for _, c := range indexCases(40) {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, strings.ReplaceAll(c.name, " ", "_"), c.file)
			format, _ := PromptFormat(protocol.PromptSource{URL: path})
			whole := readRange(t, protocol.PromptSource{URL: path, Rows: c.rows}, 0, c.rows)
			x := indexWithStride(t, path, format, 8)
			x.Fine = 2
			var enc []byte
			for _, o := range indexWithStride(t, path, format, 2).Offsets {
				enc = binary.LittleEndian.AppendUint64(enc, uint64(o))
			}
			for _, fine := range []struct {
				name string
				data []byte
			}{{"fine", enc}, {"truncated", enc[:len(enc)-8]}, {"missing", nil}} {
				os.Remove(path + protocol.FineIndexSuffix)
				if fine.data != nil {
					if err := os.WriteFile(path+protocol.FineIndexSuffix, fine.data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				spec := protocol.JobSpec{Prompts: protocol.PromptSource{URL: path, Rows: c.rows, Index: x}}
				for start := range c.rows {
					end := min(start+3, c.rows)
					if got := readRange(t, spec.ForSamples(start, end).Prompts, start, end); !reflect.DeepEqual(got, whole[start:end]) {
						t.Fatalf("%s: rows [%d, %d): %v, want %v", fine.name, start, end, got, whole[start:end])
					}
				}
			}
		})
	}
}

// FuzzFineIndex: whatever bytes stand in the fine index file, fineEntry
// returns an entry at or before the row and within the coarse entry's
// bounds, and a read either fails or returns the rows asked for; the
// real fine index reads the same as the full scan.
func FuzzFineIndex(f *testing.F) {
	var content strings.Builder
	for i := range 20 {
		fmt.Fprintf(&content, "row %d\n", i)
	}
	dir := f.TempDir()
	path := dir + "/p.txt"
	if err := os.WriteFile(path, []byte(content.String()), 0o644); err != nil {
		f.Fatal(err)
	}
	good := binary.LittleEndian.AppendUint64(nil, 0)
	for i := 2; i < 20; i += 2 {
		good = binary.LittleEndian.AppendUint64(good, uint64(strings.Index(content.String(), fmt.Sprintf("row %d\n", i))))
	}
	f.Add(good, int64(5))
	f.Add(good[:16], int64(3))
	f.Add([]byte{1, 2, 3}, int64(19))
	f.Fuzz(func(t *testing.T, fine []byte, start int64) {
		if start < 0 || start >= 20 {
			return
		}
		if err := os.WriteFile(path+protocol.FineIndexSuffix, fine, 0o644); err != nil {
			t.Fatal(err)
		}
		x := indexWithStride(t, path, FormatTXT, 8)
		x.Fine = 2
		src := protocol.JobSpec{Prompts: protocol.PromptSource{URL: path, Rows: 20, Index: x}}.ForSamples(start, 20).Prompts
		r, err := NewPromptReader(src)
		if err != nil {
			t.Fatal(err)
		}
		crow, coff, _ := src.Index.Entry(start)
		row, off := r.fineEntry(context.Background(), start, crow, coff)
		if row > start || row < crow || off < coff || off >= x.Size {
			t.Fatalf("fineEntry(%d) = %d, %d; coarse %d, %d", start, row, off, crow, coff)
		}
		rows, err := r.ReadRows(context.Background(), start, 20)
		if err == nil && int64(len(rows)) != 20-start {
			t.Fatalf("%d rows for [%d, 20)", len(rows), start)
		}
		if bytes.Equal(fine, good) && (err != nil || rows[0].Prompt != fmt.Sprintf("row %d", start)) {
			t.Fatalf("the real fine index: %v, %v", rows, err)
		}
	})
}
