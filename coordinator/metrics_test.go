package coordinator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/metrics/metricstest"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestMetricsExposition: a coordinator's /metrics carries the replicated
// state, its own Raft, commit and lease observations, the Go and process
// collectors and sanafarm_build_info, passes promtool check metrics, and
// MetricFamilies names every sanafarm_ family in it.
func TestMetricsExposition(t *testing.T) {
	s, err := New(Config{ID: "c1", DataDir: t.TempDir(), RaftBind: "127.0.0.1:0", diskFree: func(string) (int64, error) { return 5 << 30, nil },
		Etcd: startEtcd(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.raftLn.Close()
	defer s.httpLn.Close()
	s.metrics.leadership(true)
	s.metrics.applied(protocol.CmdTaskAssign, 3*time.Millisecond)
	s.metrics.leased(protocol.LeaseReply{Assignments: []protocol.Assignment{{}}}, time.Millisecond)
	s.metrics.leased(protocol.LeaseReply{}, time.Millisecond)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, body)
	}
	text := string(body)
	for _, want := range []string{`sanafarm_raft_leader_changes_total{to="leader"} 1`,
		`sanafarm_raft_apply_duration_seconds_count{command="task-assign"} 1`,
		`sanafarm_lease_duration_seconds_count{result="granted"} 1`, `sanafarm_lease_duration_seconds_count{result="empty"} 1`,
		`sanafarm_build_info{goversion=`, "sanafarm_queue_depth 0", `sanafarm_nodes_drained{by="auto"} 0`,
		"sanafarm_job_spec_bytes 0", "sanafarm_job_spec_bytes_limit 2.68435456e+08", "sanafarm_coordinator_data_free_bytes 5.36870912e+09",
		"sanafarm_coordinator_data_free_bytes_min 1.073741824e+09", `sanafarm_etcd_alarms{alarm="NOSPACE"} 0`,
		`sanafarm_etcd_db_quota_bytes{endpoint="127.0.0.1:`, "go_goroutines ", "process_cpu_seconds_total "} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	families := MetricFamilies()
	for _, line := range strings.Split(text, "\n") {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if name, _, _ = strings.Cut(name, " "); ok && strings.HasPrefix(name, "sanafarm_") && !slices.Contains(families, name) {
			t.Errorf("MetricFamilies lacks %s", name)
		}
	}
	metricstest.Promtool(t, body)
}
