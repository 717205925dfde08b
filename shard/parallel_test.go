package shard

import (
	"context"
	"testing"

	"github.com/sanafarm/sanafarm/model/dit"
)

// checkParallel runs the case single-rank and over a group of size ranks
// in mode, and compares every rank's output.
func checkParallel(t *testing.T, gc *golden, mode Mode, kind, url string, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	want, err := gc.forward(ctx, dit.New(gc.cfg, gc.w, gc.backend))
	if err != nil {
		t.Fatal(err)
	}
	ts := group(t, kind, url, size, F32)
	got, err := onRanks(size, func(k int) (float64, error) {
		m, err := NewModel(mode, gc.cfg, gc.w, gc.backend, ts[k])
		if err != nil {
			return 0, err
		}
		out, err := gc.forward(ctx, m)
		if err != nil {
			return 0, err
		}
		return maxDiff(out, want), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, d := range got {
		worst = max(worst, d)
	}
	st := ts[0].Stats()
	t.Logf("%s %v:%d over %s: max_abs=%.3g (rank 0 sent %d B in %d collectives)", gc.name, mode, size, kind, worst, st.BytesSent, st.Collectives)
	if !(worst <= 1e-4) {
		t.Errorf("max abs diff %.3g > 1e-4 (per rank %v)", worst, got)
	}
}

func TestParallelGolden(t *testing.T) {
	url := startNATS(t, 0)
	cases := []string{"sana_transformer", "sana_transformer_posembed", "sana_transformer_sprint", "sana_transformer_v15"}
	for _, c := range cases {
		gc := loadGolden(t, c)
		for _, kind := range transportKinds {
			for _, p := range []Plan{{TP, 2}, {SP, 2}, {SP, 3}, {SP, 4}, {CFG, 2}} {
				if p.Mode == CFG && gc.x.Dim(0)%p.Degree != 0 {
					continue
				}
				t.Run(c+"/"+kind+"/"+p.String(), func(t *testing.T) {
					checkParallel(t, gc, p.Mode, kind, url, p.Degree)
				})
			}
		}
	}
}
