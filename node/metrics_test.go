package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/metrics"
	"github.com/sanafarm/sanafarm/internal/metrics/metricstest"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestMetricsShard: a shard of 5 images in batches of 2 counts each image
// as it is written, observes the compute stages per batch, the write stage
// and upload per image and the denoise steps, and the exposition served on
// /metrics passes promtool check metrics.
func TestMetricsShard(t *testing.T) {
	m := NewMetrics()
	w := &gatedWriter{release: make(chan struct{})}
	close(w.release)
	gen := func(_ context.Context, q sana.Request) (*sana.Result, error) {
		for s := 1; s <= 3; s++ {
			q.Progress(sana.Progress{Step: s, Steps: 3})
		}
		res := images(q)
		res.Timings = sana.Timings{Encode: time.Millisecond, Denoise: 30 * time.Millisecond, Decode: 2 * time.Millisecond,
			GraphSteps: 2, EagerSteps: 1}
		return res, nil
	}
	r := overlapRun(t, 5, w, gen)
	r.e.cfg.Metrics = m
	if err := r.generate(context.Background(), func(int) {}); err != nil {
		t.Fatal(err)
	}
	m.observeShard(time.Second)
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"images", int(gathered(t, m, "sanafarm_node_images_total", "")), 5},
		{"encode observations", histCount(t, m, "sanafarm_node_stage_duration_seconds", "encode"), 3},
		{"denoise observations", histCount(t, m, "sanafarm_node_stage_duration_seconds", "denoise"), 3},
		{"write observations", histCount(t, m, "sanafarm_node_stage_duration_seconds", "write"), 5},
		{"upload observations", histCount(t, m, "sanafarm_node_upload_duration_seconds", "sample"), 5},
		{"step observations", histCount(t, m, "sanafarm_node_denoise_step_duration_seconds", ""), 6},
		{"graph steps", int(gathered(t, m, "sanafarm_node_denoise_steps_total", "graph")), 6},
		{"eager steps", int(gathered(t, m, "sanafarm_node_denoise_steps_total", "eager")), 3},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	metricstest.Promtool(t, []byte(fetchMetrics(t, m)))
}

// histCount is the sample count of a histogram series (see gathered).
func histCount(t *testing.T, m *Metrics, name, label string) int {
	return int(gathered(t, m, name, label))
}

// gathered is the value of a counter or gauge, or the sample count of a histogram,
// of family name's series whose only label has value label ("" for a
// family without labels); 0 if there is none.
func gathered(t *testing.T, m *Metrics, name, label string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if label == "" || (len(s.GetLabel()) == 1 && s.GetLabel()[0].GetValue() == label) {
				return s.GetCounter().GetValue() + float64(s.GetHistogram().GetSampleCount()) + s.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// TestMetricsRetriesAndGPUs: NATS, S3 and Hub failures are counted by
// bounded causes, and the GPU gauges follow the agents' telemetry.
func TestMetricsRetriesAndGPUs(t *testing.T) {
	m := NewMetrics()
	m.natsRequestFailed(protocol.Errorf(protocol.CodeNotLeader, "n1 is not the leader"))
	m.natsRequestFailed(protocol.Errorf(protocol.CodeBadRequest, "bad"))
	ctx := m.withRetries(context.Background())
	metrics.RetriesFrom(ctx).Retry(metrics.SystemS3, metrics.CauseThrottled)
	metrics.RetriesFrom(ctx).Failure(metrics.SystemHub, metrics.CauseNotFound)
	m.watchGPUs(func() protocol.NodeInfo {
		return protocol.NodeInfo{GPUs: []protocol.GPUInfo{{Index: 0, UUID: "GPU-1", MemoryTotal: 80 << 30, MemoryFree: 60 << 30,
			Utilization: 97, TemperatureC: 71, PowerW: 412}}}
	})
	body := fetchMetrics(t, m)
	for _, want := range []string{`sanafarm_retries_total{cause="not_leader",system="nats"} 1`,
		`sanafarm_request_failures_total{cause="client_error",system="nats"} 1`,
		`sanafarm_retries_total{cause="throttled",system="s3"} 1`, `sanafarm_request_failures_total{cause="not_found",system="hub"} 1`,
		`sanafarm_node_gpu_memory_used_bytes{gpu="0",uuid="GPU-1"} 2.147483648e+10`,
		`sanafarm_node_gpu_utilization_ratio{gpu="0",uuid="GPU-1"} 0.97`, `sanafarm_node_gpu_temperature_celsius{gpu="0",uuid="GPU-1"} 71`,
		`sanafarm_build_info{goversion=`, "go_goroutines ", "process_cpu_seconds_total "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	metricstest.Promtool(t, []byte(body))
}

// fetchMetrics serves m on a free port and fetches /metrics.
func fetchMetrics(t *testing.T, m *Metrics) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.Serve(ctx, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	return string(body)
}

// TestMetricsServeToken: with a token, /metrics answers only a scrape that
// bears it.
func TestMetricsServeToken(t *testing.T) {
	const token = "node-metrics-0123456789abcdef0123"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := NewMetrics().Serve(ctx, "127.0.0.1:0", token)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, header string
		status       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer " + token[1:], http.StatusUnauthorized},
		{"other scheme", "Basic " + token, http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
	} {
		got := metricstest.Get(t, nil, "http://"+addr.String()+"/metrics", c.header)
		if got.Status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, got.Status, c.status)
		}
		if has := strings.Contains(got.Body, "go_goroutines"); has != (c.status == http.StatusOK) {
			t.Errorf("%s: metrics in the answer: %v", c.name, has)
		}
	}
}
