package main

import (
	"context"
	"log/slog"
	"testing"
)

func TestServeNodeMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		addr        string
		wantMetrics bool
		wantErr     bool
	}{{"", false, false}, {"127.0.0.1:0", true, false}, {"not an address", false, true}} {
		f := nodeFlags{metricsAddr: c.addr}
		err := f.serveMetrics(ctx, slog.New(slog.DiscardHandler))
		if (err != nil) != c.wantErr || (f.metrics != nil) != c.wantMetrics {
			t.Errorf("--metrics-addr %q: err %v, metrics %v; want error %v, metrics %v", c.addr, err, f.metrics != nil, c.wantErr, c.wantMetrics)
		}
	}
}
