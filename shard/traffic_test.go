package shard

import (
	"context"
	"testing"
)

// TestStepTraffic checks StepTraffic against the bytes the transports
// count during a real forward.
func TestStepTraffic(t *testing.T) {
	gc := randomCase(t, true, 2, 16, 12)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, p := range []Plan{{TP, 2}, {TP, 3}, {SP, 2}, {SP, 4}, {CFG, 2}} {
		for _, enc := range []Encoding{F32, BF16} {
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
