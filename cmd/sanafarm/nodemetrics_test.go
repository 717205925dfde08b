package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/internal/metrics/metricstest"
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

// TestNodeMetricsToken: --metrics-token, or $SANAFARM_METRICS_TOKEN
// without it, guards the node's /metrics; the flag wins.
func TestNodeMetricsToken(t *testing.T) {
	const env, flag = "env-token-0123456789abcdef0123456789", "flag-token-0123456789abcdef012345678"
	t.Setenv(metricsTokenEnv, env)
	for _, c := range []struct {
		flag, want string
	}{{"", env}, {flag, flag}} {
		ctx, cancel := context.WithCancel(context.Background())
		var logged bytes.Buffer
		f := nodeFlags{metricsAddr: "127.0.0.1:0", metricsToken: c.flag}
		if err := f.serveMetrics(ctx, slog.New(slog.NewJSONHandler(&logged, nil))); err != nil {
			t.Fatal(err)
		}
		var line struct{ URL string }
		if err := json.Unmarshal(logged.Bytes(), &line); err != nil || line.URL == "" {
			t.Fatalf("log %q: %v", logged.String(), err)
		}
		if strings.Contains(logged.String(), c.want) {
			t.Errorf("the log quotes the token: %s", logged.String())
		}
		for _, tok := range []string{"", env, flag} {
			auth := ""
			if tok != "" {
				auth = "Bearer " + tok
			}
			if got, want := metricstest.Get(t, nil, line.URL, auth), tok == c.want; (got.Status == http.StatusOK) != want {
				t.Errorf("flag %q, scrape with %q: status %d, want success %v", c.flag, tok, got.Status, want)
			}
		}
		cancel()
	}
}
