package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sanafarm/sanafarm/protocol"
)

// benchRows is the prompt-file size of the read benchmarks.
const benchRows = 1_000_000

// benchPromptFile writes benchRows prompts in format once per process.
func benchPromptFile(b *testing.B, format string) string {
	b.Helper()
	p := filepath.Join(os.TempDir(), fmt.Sprintf("sanafarm-bench-%d.%s", benchRows, format))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	if format == FormatParquet {
		w := parquet.NewGenericWriter[pqPrompt](f, parquet.MaxRowsPerRowGroup(64<<10))
		batch := make([]pqPrompt, 0, 4096)
		for i := range benchRows {
			batch = append(batch, pqPrompt{ID: int64(i), Prompt: benchPrompt(i), Seed: int64(i), Style: "photo"})
			if len(batch) == cap(batch) || i == benchRows-1 {
				if _, err := w.Write(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	} else {
		w := bufio.NewWriter(f)
		if format == FormatCSV {
			fmt.Fprintln(w, "id,prompt,seed,style")
		}
		for i := range benchRows {
			switch format {
			case FormatJSONL:
				fmt.Fprintf(w, "{\"id\": %d, \"prompt\": %q, \"seed\": %d, \"style\": \"photo\"}\n", i, benchPrompt(i), i)
			case FormatCSV:
				fmt.Fprintf(w, "%d,%q,%d,photo\n", i, benchPrompt(i), i)
			default:
				fmt.Fprintln(w, benchPrompt(i))
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchPrompt(i int) string {
	return fmt.Sprintf("a photograph of a red fox number %d sitting in the snow at dawn, soft light", i)
}

// BenchmarkPromptRead reads the LAST 64-row task range of a 1M-row file:
// the worst case for a streamed format (every earlier row is parsed);
// Parquet reads only the row group holding the range. rows/s counts the
// rows scanned (the whole file for the streamed formats).
func BenchmarkPromptRead(b *testing.B) {
	for _, format := range []string{FormatTXT, FormatJSONL, FormatCSV, FormatParquet} {
		b.Run(format, func(b *testing.B) {
			p := benchPromptFile(b, format)
			r, err := NewPromptReader(protocol.PromptSource{URL: p})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				rows, err := r.ReadRows(ctx, benchRows-64, benchRows)
				if err != nil || len(rows) != 64 || rows[63].Prompt != benchPrompt(benchRows-1) {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
			if format != FormatParquet {
				b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			}
		})
	}
}

// BenchmarkWebDatasetShard writes a 64-sample shard of 400 KB "PNGs"
// (the size of a 512² image) to a local store: tar spooling, SHA-256 and
// the one Put.
func BenchmarkWebDatasetShard(b *testing.B) {
	s, err := NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	png := make([]byte, 400<<10)
	for i := range png {
		png[i] = byte(i * 7)
	}
	ctx := context.Background()
	b.SetBytes(64 * int64(len(png)))
	for b.Loop() {
		w := NewWebDatasetWriter(s, "bench", 0)
		for i := range int64(64) {
			if err := w.Write(ctx, Sample{Index: i, Prompt: benchPrompt(int(i)), PNG: png, Meta: map[string]int64{"i": i}}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Finish(ctx, ShardStats{Job: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}
