package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/sanafarm/sanafarm/protocol"
)

func TestCSVPrompts(t *testing.T) {
	ctx := context.Background()
	p := writeFile(t, "p.csv", "\ufeffID,Prompt,negative_prompt,seed,style\n"+
		"a1,a red fox,blurry,42,oil\n"+
		"a2,\"a fox, \"\"quoted\"\"\nover two lines\",,,\n"+
		"a3,   ,,,\n"+ // blank prompt: not a row
		"a4,third,,18446744073709551615,ink\n")
	src := protocol.PromptSource{URL: p}
	if n, err := CountPrompts(ctx, src); err != nil || n != 3 {
		t.Fatalf("count %d %v", n, err)
	}
	r, err := NewPromptReader(src)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := r.ReadRows(ctx, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Prompt != "a red fox" || rows[0].NegativePrompt != "blurry" || *rows[0].Seed != 42 ||
		rows[0].ID != "a1" || string(rows[0].Extra["style"]) != `"oil"` {
		t.Fatalf("row 0: %+v", rows[0])
	}
	if rows[1].Prompt != "a fox, \"quoted\"\nover two lines" || rows[1].Seed != nil || rows[1].Extra != nil {
		t.Fatalf("row 1: %+v", rows[1])
	}
	if rows[2].Prompt != "third" || *rows[2].Seed != 1<<64-1 {
		t.Fatalf("row 2: %+v", rows[2])
	}
	got, err := r.Read(ctx, 1, 3)
	if err != nil || len(got) != 2 || got[1] != "third" {
		t.Fatalf("range [1,3): %q %v", got, err)
	}
	if _, err := r.Read(ctx, 2, 4); err == nil || !strings.Contains(err.Error(), "has 3 prompts") {
		t.Fatalf("read past the end: %v", err)
	}
}

func TestJSONLExtras(t *testing.T) {
	p := writeFile(t, "p.jsonl", `{"prompt": "a", "negative_prompt": "b", "seed": 7, "id": 12, "tags": ["x"], "w": 1.5}`+"\n")
	r, err := NewPromptReader(protocol.PromptSource{URL: p})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := r.ReadRows(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	row := rows[0]
	if row.Prompt != "a" || row.NegativePrompt != "b" || *row.Seed != 7 || row.ID != "12" ||
		string(row.Extra["tags"]) != `["x"]` || string(row.Extra["w"]) != "1.5" || len(row.Extra) != 2 {
		t.Fatalf("%+v", row)
	}
}

type pqPrompt struct {
	ID     int64  `parquet:"id"`
	Prompt string `parquet:"prompt"`
	Seed   int64  `parquet:"seed"`
	Style  string `parquet:"style"`
}

// writeParquetPrompts writes n rows in row groups of group rows.
func writeParquetPrompts(t testing.TB, n, group int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[pqPrompt](f, parquet.MaxRowsPerRowGroup(int64(group)))
	for i := range n {
		if _, err := w.Write([]pqPrompt{{ID: int64(i), Prompt: fmt.Sprintf("prompt %d", i), Seed: int64(i * 3), Style: "s"}}); err != nil {
			t.Fatal(err)
		}
		if (i+1)%group == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParquetPrompts(t *testing.T) {
	ctx := context.Background()
	p := writeParquetPrompts(t, 1000, 128)
	src := protocol.PromptSource{URL: "file://" + p}
	if n, err := CountPrompts(ctx, src); err != nil || n != 1000 {
		t.Fatalf("count %d %v", n, err)
	}
	r, err := NewPromptReader(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range [][2]int64{{0, 1}, {120, 140}, {255, 257}, {990, 1000}, {0, 1000}} {
		rows, err := r.ReadRows(ctx, rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(rows)) != rg[1]-rg[0] {
			t.Fatalf("range %v: %d rows", rg, len(rows))
		}
		for k, row := range rows {
			i := rg[0] + int64(k)
			if row.Prompt != fmt.Sprintf("prompt %d", i) || *row.Seed != uint64(i*3) || row.ID != fmt.Sprint(i) ||
				string(row.Extra["style"]) != `"s"` {
				t.Fatalf("row %d: %+v", i, row)
			}
		}
	}
	if _, err := r.Read(ctx, 999, 1001); err == nil {
		t.Fatal("read past the end")
	}
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	f, _ := os.Create(bad)
	w := parquet.NewGenericWriter[struct {
		Text string `parquet:"text"`
	}](f)
	w.Write([]struct {
		Text string `parquet:"text"`
	}{{"x"}})
	w.Close()
	f.Close()
	if _, err := CountPrompts(ctx, protocol.PromptSource{URL: bad}); err == nil ||
		!strings.Contains(err.Error(), `Parquet schema has no "prompt" column (columns: text)`) {
		t.Fatalf("no prompt column: %v", err)
	}
}

func FuzzScanCSV(f *testing.F) {
	f.Add([]byte("prompt\na\n\"b\nc\"\n"))
	f.Add([]byte("id,prompt,seed,x\n1,a,2,y\n"))
	f.Add([]byte("prompt,seed\na,99999999999999999999\n"))
	f.Add([]byte("a,b\n"))
	f.Add([]byte("prompt\n\xff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rows int64
		err := ScanRows(context.Background(), bytes.NewReader(data), FormatCSV, "fuzz", func(row int64, p PromptRow) error {
			if row != rows {
				t.Fatalf("row %d after %d rows", row, rows)
			}
			if !utf8.ValidString(p.Prompt) || len(p.Prompt) > protocol.MaxPromptBytes || strings.TrimSpace(p.Prompt) == "" {
				t.Fatalf("row %d: invalid prompt %q", row, p.Prompt)
			}
			rows++
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz:") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

func FuzzScanJSONLRows(f *testing.F) {
	f.Add([]byte(`{"prompt":"x","seed":3,"id":"a","k":[1]}` + "\n"))
	f.Add([]byte(`{"prompt":"x","negative_prompt":5}`))
	f.Add([]byte(`{"caption":"x","seed":"12"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ScanRows(context.Background(), bytes.NewReader(data), FormatJSONL, "fuzz", func(row int64, p PromptRow) error {
			if !utf8.ValidString(p.Prompt) || !utf8.ValidString(p.NegativePrompt) || len(p.Prompt) > protocol.MaxPromptBytes {
				t.Fatalf("row %d: invalid row %+v", row, p)
			}
			for k := range p.Extra {
				if k == fieldPrompt || k == fieldSeed || k == fieldNegative || k == fieldID {
					t.Fatalf("row %d: %q left in extras", row, k)
				}
			}
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz:") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
