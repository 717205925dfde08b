package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator"
	"github.com/sanafarm/sanafarm/node"
)

// grafanaPanel is the part of a dashboard panel the test reads.
type grafanaPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

var metricName = regexp.MustCompile(`\bsanafarm_[a-z0-9_]+`)

// TestGrafanaDashboard: deploy/grafana/sanafarm.json parses, every panel
// but a row queries something, and every sanafarm_ name a query uses is a
// family the coordinator or a node exports (a histogram's _bucket, _sum
// and _count series included), so a renamed metric cannot leave a
// dashboard panel silently empty.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/sanafarm.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string         `json:"title"`
		UID    string         `json:"uid"`
		Panels []grafanaPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/sanafarm.json: %v", err)
	}
	families := append(coordinator.MetricFamilies(), node.MetricFamilies()...)
	used := map[string]bool{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				for _, name := range metricName.FindAllString(q.Expr, -1) {
					used[name] = true
					if !exported(families, name) {
						t.Errorf("panel %q queries %s, which no component exports", p.Title, name)
					}
				}
			}
		}
	}
	walk(dash.Panels)
	for _, want := range []string{"sanafarm_node_images_total", "sanafarm_node_shard_duration_seconds_bucket",
		"sanafarm_node_stage_duration_seconds_sum", "sanafarm_queue_depth", "sanafarm_leases_total", "sanafarm_retries_total",
		"sanafarm_node_gpu_utilization_ratio", "sanafarm_node_gpu_memory_used_bytes", "sanafarm_node_gpu_temperature_celsius",
		"sanafarm_raft_leader_changes_total", "sanafarm_raft_apply_duration_seconds_bucket"} {
		if !used[want] {
			t.Errorf("the dashboard has no panel querying %s", want)
		}
	}
}

// exported reports whether name is one of families or a histogram's
// series of one.
func exported(families []string, name string) bool {
	if slices.Contains(families, name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && strings.HasSuffix(base, "_seconds") && slices.Contains(families, base) {
			return true
		}
	}
	return false
}
