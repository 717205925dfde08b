package storage

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// BenchmarkPromptRangeRead reads the first and the last 64-row task
// range of a 1M-row file through its PromptIndex (as an assignment
// carries it, trimmed by ForSamples) and reports the time of each and
// their ratio end/start (issue #16's goal: ≤ 2 whatever the file's size).
// worst/start is the range that ends at an entry (Stride-64 rows
// skipped from the entry before): the bound, which grows with the stride
// only. stride-1024 is this file's own index (IndexPrompts, the
// submit-time pass, up to 2M rows); stride-8192 keeps every 8th entry,
// the stride a 10M-row file gets; +fine-64 adds the fine level submit
// stores beside an uploaded input (one entry per 64 rows).
func BenchmarkPromptRangeRead(b *testing.B) {
	for _, format := range []string{FormatTXT, FormatJSONL, FormatCSV} {
		p := benchPromptFile(b, format)
		n, x, fine, err := IndexPromptsFine(context.Background(), protocol.PromptSource{URL: p})
		if err != nil || n != benchRows {
			b.Fatalf("indexing: %d rows, %v", n, err)
		}
		if err := os.WriteFile(p+protocol.FineIndexSuffix, fine, 0o644); err != nil {
			b.Fatal(err)
		}
		for _, v := range []struct{ thin, fine int64 }{{1, 0}, {8, 0}, {8, x.Fine}} {
			y := *x
			y.Stride, y.Offsets, y.Fine = x.Stride*v.thin, nil, v.fine
			for i := 0; i < len(x.Offsets); i += int(v.thin) {
				y.Offsets = append(y.Offsets, x.Offsets[i])
			}
			name := fmt.Sprintf("%s/stride-%d", format, y.Stride)
			if v.fine > 0 {
				name += fmt.Sprintf("+fine-%d", v.fine)
			}
			b.Run(name, func(b *testing.B) {
				benchRangeRead(b, protocol.PromptSource{URL: p, Rows: n, Index: &y})
			})
		}
	}
}

func benchRangeRead(b *testing.B, src protocol.PromptSource) {
	ctx := context.Background()
	spec := protocol.JobSpec{Prompts: src}
	read := func(start int64) time.Duration {
		t0 := time.Now()
		r, err := NewPromptReader(spec.ForSamples(start, start+64).Prompts)
		if err != nil {
			b.Fatal(err)
		}
		rows, err := r.ReadRows(ctx, start, start+64)
		if err != nil || len(rows) != 64 || rows[63].Prompt != benchPrompt(int(start)+63) {
			b.Fatalf("rows [%d, %d): %d rows, %v", start, start+64, len(rows), err)
		}
		return time.Since(t0)
	}
	stride := src.Index.Stride
	worstStart := (benchRows/stride)*stride - 64
	var first, last, worst time.Duration
	for b.Loop() {
		first += read(0)
		last += read(benchRows - 64)
		worst += read(worstStart)
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(us(first), "µs-first/op")
	b.ReportMetric(us(last), "µs-last/op")
	b.ReportMetric(us(worst), "µs-worst/op")
	b.ReportMetric(float64(last)/float64(first), "end/start")
	b.ReportMetric(float64(worst)/float64(first), "worst/start")
}
