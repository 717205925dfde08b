package node

import (
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/internal/metrics/metricstest"
	"github.com/sanafarm/sanafarm/model/hub"
)

// TestMetricsModelCacheDisk: the gauges report each model cache's free
// space and what downloads in progress still have to write, once per
// resolver however many executors share it, and pass promtool.
func TestMetricsModelCacheDisk(t *testing.T) {
	m := NewMetrics()
	hubDir, root := t.TempDir(), t.TempDir()
	r := &ModelResolver{CacheRoot: root, Hub: &hub.Config{CacheDir: hubDir}}
	for range 2 {
		NewPipelineExecutor(PipelineConfig{Models: r, Metrics: m})
	}
	hold, err := r.room.Take("a model", hubDir, 12345, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Release()
	text := fetchMetrics(t, m)
	for _, want := range []string{`sanafarm_node_model_cache_free_bytes{cache="hub"} `, `sanafarm_node_model_cache_free_bytes{cache="sanafarm"} `,
		"sanafarm_node_model_downloads_pending_bytes 12345\n"} {
		if strings.Count(text, want) != 1 {
			t.Errorf("/metrics has %q %d times, want once", want, strings.Count(text, want))
		}
	}
	free, err := diskroom.Free(hubDir)
	if err != nil || free <= 0 || gathered(t, m, "sanafarm_node_model_cache_free_bytes", "hub") <= 0 {
		t.Errorf("free space %d (%v), gauge %v", free, err, gathered(t, m, "sanafarm_node_model_cache_free_bytes", "hub"))
	}
	metricstest.Promtool(t, []byte(text))
}
