package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
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
	// A port another node process already serves: the error names the
	// flag and says what to do.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := nodeFlags{metricsAddr: ln.Addr().String()}
	err = f.serveMetrics(ctx, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") || !strings.Contains(err.Error(), "own port") {
		t.Errorf("taken port: %v", err)
	}
}
