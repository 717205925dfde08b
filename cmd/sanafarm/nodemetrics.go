package main

import (
	"context"
	"log/slog"

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
	m := node.NewMetrics()
	addr, err := m.Serve(ctx, f.metricsAddr)
	if err != nil {
		return err
	}
	f.metrics = m
	log.Info("serving node metrics", "url", "http://"+addr.String()+"/metrics")
	return nil
}
