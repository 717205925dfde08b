package shard

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAllGatherAddressed measures a 4-rank all-gather (sequence
// parallelism's collective) with each message addressed to its recipient
// (NATSConfig.Addressed: a broadcast is three publishes) against the
// earlier layout (one publish to "all", fanned out by the server), the two
// alternating within the run; ratio = legacy / addressed median time.
// Every rank shares one process and one embedded server here, so this
// bounds the server and client cost of the extra publishes, not the
// network's (each node's download is the same in both layouts).
func BenchmarkAllGatherAddressed(b *testing.B) {
	url := startNATS(b, 0)
	const size = 4
	for _, mib := range []int{1, 8} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			n := mib << 20 / 4 / size // each rank's part
			legacy, addressed := group(b, "nats", url, size, F32), group(b, "nats-addressed", url, size, F32)
			part := make([]float32, n)
			ctx := context.Background()
			gather := func(ts []Transport) time.Duration {
				start := time.Now()
				if _, err := onRanks(size, func(k int) ([][]float32, error) { return ts[k].AllGather(ctx, part) }); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			var tl, ta []time.Duration
			b.SetBytes(int64(4 * n * size))
			for b.Loop() {
				tl = append(tl, gather(legacy))
				ta = append(ta, gather(addressed))
			}
			l, a := median(tl), median(ta)
			b.ReportMetric(float64(l.Microseconds()), "legacy-µs")
			b.ReportMetric(float64(a.Microseconds()), "addressed-µs")
			b.ReportMetric(float64(l)/float64(a), "ratio")
		})
	}
}
