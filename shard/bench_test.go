package shard

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dit"
)

// BenchmarkAllReduceNATS measures a 2-rank all-reduce over an embedded
// NATS server against raw pub/sub moving the same bytes (each rank sends
// and receives S bytes in the same chunk size). The two alternate within
// the run (the box is shared, so load shifts between them evenly); the
// medians are reported and ratio = raw / all-reduce time.
func BenchmarkAllReduceNATS(b *testing.B) {
	url := startNATS(b, 0)
	for _, mib := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			n := mib << 20 / 4
			raw := newRawPair(b, url)
			ts := group(b, "nats", url, 2, F32)
			bufs := [][]float32{make([]float32, n), make([]float32, n)}
			ctx := context.Background()
			var tRaw, tAR []time.Duration
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				start := time.Now()
				raw.round(4 * n)
				tRaw = append(tRaw, time.Since(start))
				start = time.Now()
				if _, err := onRanks(2, func(k int) (struct{}, error) { return struct{}{}, ts[k].AllReduce(ctx, bufs[k]) }); err != nil {
					b.Fatal(err)
				}
				tAR = append(tAR, time.Since(start))
			}
			r, a := median(tRaw), median(tAR)
			b.ReportMetric(float64(r.Microseconds()), "raw-µs")
			b.ReportMetric(float64(a.Microseconds()), "allreduce-µs")
			b.ReportMetric(float64(4*n)/a.Seconds()/1e6, "allreduce-MB/s")
			b.ReportMetric(float64(r)/float64(a), "ratio")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// rawPair is two NATS connections that publish to each other.
type rawPair struct {
	conns [2]*nats.Conn
	got   [2]chan int
	chunk int
}

func newRawPair(b *testing.B, url string) *rawPair {
	b.Helper()
	p := &rawPair{}
	for k := range p.conns {
		nc, err := nats.Connect(url, nats.NoEcho())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		p.conns[k], p.got[k] = nc, make(chan int, 1<<16)
		sub, err := nc.Subscribe(fmt.Sprintf("raw.%d", k), func(m *nats.Msg) {
			buf := make([]byte, len(m.Data)) // the transport copies too
			copy(buf, m.Data)
			p.got[k] <- len(buf)
		})
		if err != nil {
			b.Fatal(err)
		}
		sub.SetPendingLimits(-1, -1)
		nc.Flush()
	}
	p.chunk = int(p.conns[0].MaxPayload()) - headerSize
	return p
}

// round has each connection publish size bytes (in max_payload chunks)
// to the other and receive the other's.
func (p *rawPair) round(size int) {
	payload := make([]byte, p.chunk+headerSize)
	var wg sync.WaitGroup
	for k := range p.conns {
		wg.Go(func() {
			for off := 0; off < size; off += p.chunk {
				p.conns[k].Publish(fmt.Sprintf("raw.%d", 1-k), payload[:headerSize+min(p.chunk, size-off)])
			}
			for recv := 0; recv < size; {
				recv += <-p.got[k] - headerSize
			}
		})
	}
	wg.Wait()
}

// BenchmarkStepNATS times one forward (a CFG denoising step, batch 2) of a
// mid-size model (D 384, 6 blocks, 32×32 latent) single-rank with all
// cores and over NATS with two ranks of one core each.
func BenchmarkStepNATS(b *testing.B) {
	url := startNATS(b, 0)
	cfg := dit.Config{ClassName: dit.ClassName, InChannels: 32, NumAttentionHeads: 12, AttentionHeadDim: 32,
		NumLayers: 6, NumCrossAttnHeads: 12, CrossAttnHeadDim: 32, CrossAttentionDim: 384, CaptionChannels: 256,
		MLPRatio: 2.5, NormEps: 1e-6, SampleSize: 32, PatchSize: 1}
	gc := randomCase(b, false, 2, 32, 32)
	w, err := dit.RandomWeights(cfg, 3)
	if err != nil {
		b.Fatal(err)
	}
	gc.cfg, gc.w = cfg, w
	gc.x = kernels.MustNew(kernels.Float32, 2, 32, 32, 32)
	gc.enc = kernels.MustNew(kernels.Float32, 2, gc.enc.Dim(1), 256)
	ctx := context.Background()
	b.Run("single", func(b *testing.B) {
		m := dit.New(cfg, w, cpu.New(cpu.Config{}))
		cd, err := m.PrepareCond(ctx, gc.enc, gc.mask)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := m.Forward(ctx, gc.x, gc.ts, nil, cd); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, p := range []Plan{{TP, 2}, {SP, 2}, {CFG, 2}} {
		b.Run(p.String(), func(b *testing.B) {
			ts := group(b, "nats", url, 2, F32)
			ms := make([]Denoiser, 2)
			cds := make([]*dit.Cond, 2)
			if _, err := onRanks(2, func(k int) (struct{}, error) {
				var err error
				if ms[k], err = NewModel(p.Mode, cfg, w, cpu.New(cpu.Config{Threads: 1}), ts[k]); err == nil {
					cds[k], err = ms[k].PrepareCond(ctx, gc.enc, gc.mask)
				}
				return struct{}{}, err
			}); err != nil {
				b.Fatal(err)
			}
			before := ts[0].Stats().BytesSent
			for b.Loop() {
				if _, err := onRanks(2, func(k int) (*kernels.Tensor, error) { return ms[k].Forward(ctx, gc.x, gc.ts, nil, cds[k]) }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(ts[0].Stats().BytesSent-before)/float64(b.N)/1e6, "MB-sent/op")
		})
	}
}
