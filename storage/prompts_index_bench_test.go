package storage

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// BenchmarkPromptRangeRead reads the first and the last 64-row task
// range of a 1M-row file through its PromptIndex (as an assignment
// carries it, trimmed by ForSamples) and reports the time of each and
// their ratio end/start (issue #16's goal: ≤ 2 whatever the file's size).
// worst/start is the range just before an entry (Stride-64 rows skipped):
// the bound, which grows with the stride (1024 rows up to 2M rows, 8192
// at 10M). The index is built once per format (IndexPrompts, the
// submit-time pass).
func BenchmarkPromptRangeRead(b *testing.B) {
	for _, format := range []string{FormatTXT, FormatJSONL, FormatCSV} {
		b.Run(format, func(b *testing.B) {
			ctx := context.Background()
			p := benchPromptFile(b, format)
			n, x, err := IndexPrompts(ctx, protocol.PromptSource{URL: p})
			if err != nil || n != benchRows {
				b.Fatalf("indexing: %d rows, %v", n, err)
			}
			spec := protocol.JobSpec{Prompts: protocol.PromptSource{URL: p, Rows: n, Index: x}}
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
			// worst: the range that ends at an entry, so that the read
			// skips Stride-64 rows from the entry before it (the bound).
			worstStart := (benchRows/x.Stride)*x.Stride - 64
			var first, last, worst time.Duration
			b.ResetTimer()
			for b.Loop() {
				first += read(0)
				last += read(benchRows - 64)
				worst += read(worstStart)
			}
			b.ReportMetric(float64(first.Microseconds())/float64(b.N), "µs-first/op")
			b.ReportMetric(float64(last.Microseconds())/float64(b.N), "µs-last/op")
			b.ReportMetric(float64(last)/float64(first), "end/start")
			b.ReportMetric(float64(worst)/float64(first), "worst/start")
			b.ReportMetric(float64(len(x.Offsets)), "entries")
		})
	}
}
