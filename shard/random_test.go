package shard

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dit"
)

// randomCase is a RandomWeights transformer with 12 heads (so TP degrees
// 2, 3 and 4 divide the heads and the Mix-FFN width) and random inputs.
func randomCase(t testing.TB, qk bool, B, h, w int) *golden {
	t.Helper()
	cfg := dit.Config{ClassName: dit.ClassName, InChannels: 8, NumAttentionHeads: 12, AttentionHeadDim: 8,
		NumLayers: 2, NumCrossAttnHeads: 12, CrossAttnHeadDim: 8, CrossAttentionDim: 96, CaptionChannels: 40,
		MLPRatio: 2.5, NormEps: 1e-6, SampleSize: 16, PatchSize: 1}
	if qk {
		s := "rms_norm_across_heads"
		cfg.QKNorm = &s
	}
	wts, err := dit.RandomWeights(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(shape ...int) *kernels.Tensor {
		x := kernels.MustNew(kernels.Float32, shape...)
		for i := range x.F32() {
			x.F32()[i] = float32(rng.NormFloat64())
		}
		return x
	}
	const T = 7
	mask := kernels.MustNew(kernels.Float32, B, T)
	for i := range mask.F32() {
		if i%T < T-2 || i < T {
			mask.F32()[i] = 1
		}
	}
	tsv := make([]float32, B)
	for i := range tsv {
		tsv[i] = 300 + 200*float32(i)
	}
	return &golden{cfg: cfg, w: wts, enc: randn(B, T, 40), mask: mask, x: randn(B, 8, h, w), ts: tsv,
		name: "random", backend: cpu.New(cpu.Config{})}
}

// TestParallelRandom covers TP degrees 3 and 4, uneven SP bands, bands
// thinner than a head (padded tokens), chunked TP all-reduces and CFG, on
// a 12-head model.
func TestParallelRandom(t *testing.T) {
	url := startNATS(t, 0)
	for _, qk := range []bool{false, true} {
		gc := randomCase(t, qk, 2, 16, 16)
		thin := randomCase(t, qk, 2, 5, 3) // 3-token bands < head dim 8 … and 1-row bands
		for _, kind := range transportKinds {
			for _, p := range []Plan{{TP, 2}, {TP, 3}, {TP, 4}, {SP, 3}, {SP, 4}, {CFG, 2}} {
				t.Run(strings.Join([]string{kind, p.String(), map[bool]string{true: "qk", false: "plain"}[qk]}, "/"), func(t *testing.T) {
					checkParallel(t, gc, p.Mode, kind, url, p.Degree)
				})
			}
			t.Run(kind+"/sp:4/thin", func(t *testing.T) { checkParallel(t, thin, SP, kind, url, 4) })
		}
	}
}

// TestNATSChunking forces messages through many chunks of a small
// max_payload.
func TestNATSChunking(t *testing.T) {
	url := startNATS(t, 4096)
	gc := randomCase(t, true, 2, 8, 8)
	checkParallel(t, gc, TP, "nats", url, 2)
	checkParallel(t, gc, SP, "nats", url, 3)
}

// TestBF16Payloads runs TP with bf16 activations on the wire: close to,
// not equal to, the f32 result, and identical on every rank.
func TestBF16Payloads(t *testing.T) {
	gc := randomCase(t, false, 1, 8, 8)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	want, err := gc.forward(ctx, dit.New(gc.cfg, gc.w, gc.backend))
	if err != nil {
		t.Fatal(err)
	}
	ts := group(t, "loop", "", 2, BF16)
	outs, err := onRanks(2, func(k int) (*kernels.Tensor, error) {
		m, err := NewModel(TP, gc.cfg, gc.w, gc.backend, ts[k])
		if err != nil {
			return nil, err
		}
		return gc.forward(ctx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	d, same := maxDiff(outs[0], want), maxDiff(outs[0], outs[1])
	t.Logf("bf16 wire: max_abs vs f32 single rank %.3g, between ranks %.3g", d, same)
	if same != 0 || d > 0.1 || d == 0 {
		t.Errorf("bf16: diff vs single rank %g (want small, non-zero), between ranks %g (want 0)", d, same)
	}
}

// TestKilledRank: a rank that disappears mid-forward turns into an error
// on every other rank within the peer timeout, never a hang.
func TestKilledRank(t *testing.T) {
	url := startNATS(t, 0)
	gc := randomCase(t, false, 2, 8, 8)
	for _, kind := range transportKinds {
		t.Run(kind, func(t *testing.T) {
			const size = 3
			ts := group(t, kind, url, size, F32)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			start := time.Now()
			_, err := onRanks(size, func(k int) (*kernels.Tensor, error) {
				if k == 1 {
					kill(ts[k])
					return nil, nil
				}
				m, err := NewModel(SP, gc.cfg, gc.w, gc.backend, ts[k])
				if err != nil {
					return nil, err
				}
				return gc.forward(ctx, m)
			})
			took := time.Since(start)
			t.Logf("%s: error after %v: %v", kind, took, err)
			if err == nil || !errors.Is(err, ErrPeerLost) && !errors.Is(err, ErrAborted) {
				t.Fatalf("want a lost-peer error, got %v", err)
			}
			if took > 2*time.Second {
				t.Errorf("detection took %v > 2 s", took)
			}
		})
	}
}

// kill makes a rank vanish without a goodbye: its NATS connection drops
// (heartbeats stop), a loopback rank is removed.
func kill(tr Transport) {
	switch t := tr.(type) {
	case *NATS:
		close(t.stop)
		t.nc.Close()
	case *Loopback:
		t.Close()
	}
}
