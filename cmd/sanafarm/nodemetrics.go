package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"

	"github.com/sanafarm/sanafarm/internal/bearer"
	"github.com/sanafarm/sanafarm/node"
)

// serveMetrics starts the node process's Prometheus endpoint on
// --metrics-addr until ctx ends (nothing when it is empty); every agent
// and executor built from f afterwards records into it (docs/deploy.md,
// Metrics).
func (f *nodeFlags) serveMetrics(ctx context.Context, log *slog.Logger) error {
	if f.metricsAddr == "" {
		return nil
	}
	token := f.metricsBearer() // checked by checkBackend
	m := node.NewMetrics()
	addr, err := m.Serve(ctx, f.metricsAddr, token)
	if err != nil {
		// The default port is per host: a second node process there needs
		// its own.
		return fmt.Errorf("flag --metrics-addr: %w (another node process on this host? give each its own port, or --metrics-addr '' for none)", err)
	}
	f.metrics = m
	log.Info("serving node metrics", "url", "http://"+addr.String()+"/metrics", "bearer_token", token != "")
	return nil
}

// metricsTokenEnv holds the metrics token when --metrics-token is not
// given (a flag's value shows in the process list; the environment of a
// systemd unit's EnvironmentFile does not).
const metricsTokenEnv = "SANAFARM_METRICS_TOKEN"

// metricsBearer is the token /metrics asks for: --metrics-token, else
// $SANAFARM_METRICS_TOKEN ("": public).
func (f *nodeFlags) metricsBearer() string {
	return firstOf(f.metricsToken, os.Getenv(metricsTokenEnv))
}

// checkTokens refuses, as a usage error naming the flag, a bearer token
// no request could present (bearer.Check), which would otherwise lock
// every client out with 401s.
func checkTokens(named map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(named)) {
		if err := bearer.Check(name, named[name]); err != nil {
			return usage(err)
		}
	}
	return nil
}
