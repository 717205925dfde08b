package shard

import (
	"testing"

	"github.com/sanafarm/sanafarm/model/dit"
)

// TestStepTraffic checks StepTraffic against the bytes the transports
// count during a real forward.
func TestStepTraffic(t *testing.T) {
	gc := randomCase(t, true, 2, 16, 12)
	for _, p := range []Plan{{TP, 2}, {TP, 3}, {SP, 2}, {SP, 4}, {CFG, 2}} {
		for _, enc := range []Encoding{F32, BF16} {
			ctx := timeoutCtx(t, testTimeout) // each run its own: -race on a loaded machine is slow
			ts := group(t, "loop", "", p.Degree, enc)
			got, err := onRanks(p.Degree, func(k int) (Stats, error) {
				m, err := NewModel(p.Mode, gc.cfg, gc.w, gc.backend, ts[k])
				if err != nil {
					return Stats{}, err
				}
				cd, err := m.PrepareCond(ctx, gc.enc, gc.mask)
				if err != nil {
					return Stats{}, err
				}
				before := ts[k].Stats()
				if _, err := m.Forward(ctx, gc.x, gc.ts, gc.g, cd); err != nil {
					return Stats{}, err
				}
				after := ts[k].Stats()
				return Stats{BytesSent: after.BytesSent - before.BytesSent, Collectives: after.Collectives - before.Collectives}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, s := range got {
				sum += s.BytesSent
			}
			want := StepTraffic(gc.cfg, p, gc.x.Dim(0), gc.x.Dim(2), gc.x.Dim(3), enc)
			if sum != want.Bytes || int(got[0].Collectives) != want.Collectives {
				t.Errorf("%v %v: counted %d B in %d collectives, StepTraffic says %d B in %d", p, enc, sum, got[0].Collectives, want.Bytes, want.Collectives)
			}
		}
	}
}

// sana1600M is the Sana 1.6B transformer (1024px and 4K checkpoints share
// these shapes).
func sana1600M() dit.Config {
	return dit.Config{ClassName: dit.ClassName, InChannels: 32, NumAttentionHeads: 70, AttentionHeadDim: 32,
		NumLayers: 20, NumCrossAttnHeads: 20, CrossAttnHeadDim: 112, CrossAttentionDim: 2240, CaptionChannels: 2304,
		MLPRatio: 2.5, NormEps: 1e-6, SampleSize: 32, PatchSize: 1}
}

// TestTraffic1600M logs the bytes one CFG denoising step (batch 2) moves
// at Sana-1.6B shapes, from the schedule StepTraffic (checked above
// against counted bytes): the parallel forward itself is far too large
// for this box.
func TestTraffic1600M(t *testing.T) {
	c := sana1600M()
	for _, px := range []int{1024, 4096} {
		side := px / 32
		var tp, sp Traffic
		for _, p := range []Plan{{TP, 2}, {TP, 4}, {SP, 2}, {SP, 4}, {CFG, 2}} {
			for _, enc := range []Encoding{F32, BF16} {
				tr := StepTraffic(c, p, 2, side, side, enc)
				t.Logf("%d² %v %v: %.1f MB/step in %d collectives/rank", px, p, enc, float64(tr.Bytes)/1e6, tr.Collectives)
				if p == (Plan{TP, 2}) && enc == F32 {
					tp = tr
				}
				if p == (Plan{SP, 2}) && enc == F32 {
					sp = tr
				}
			}
		}
		if tp.Bytes < 10*sp.Bytes {
			t.Errorf("%d²: TP moves %d B, SP %d B: want SP at least 10× below TP", px, tp.Bytes, sp.Bytes)
		}
	}
}
