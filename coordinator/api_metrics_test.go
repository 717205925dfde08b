package coordinator

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/internal/metrics/metricstest"
)

// TestMetricsToken: /metrics is public without a metrics token; with one it
// answers the metrics token or the API token, and nothing else.
func TestMetricsToken(t *testing.T) {
	const metricsToken = "metrics-0123456789abcdef0123456789"
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "sanafarm_test_total", Help: "a test counter"}))
	open := newTestAPIWith(t, newFake(), apiConfig{metrics: reg})
	guarded := newTestAPIWith(t, newFake(), apiConfig{metrics: reg, metricsToken: metricsToken})
	for _, c := range []struct {
		name   string
		url    string
		header string
		status int
	}{
		{"open, no token", open.URL, "", 200},
		{"open, wrong token", open.URL, "Bearer wrong", 200},
		{"guarded, no token", guarded.URL, "", 401},
		{"guarded, wrong token", guarded.URL, "Bearer " + metricsToken + "x", 401},
		{"guarded, basic", guarded.URL, "Basic " + metricsToken, 401},
		{"guarded, metrics token", guarded.URL, "Bearer " + metricsToken, 200},
		{"guarded, API token", guarded.URL, "Bearer " + testToken, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := metricstest.Get(t, nil, c.url+api.PathMetrics, c.header)
			if got.Status != c.status {
				t.Fatalf("status %d, want %d: %s", got.Status, c.status, got.Body)
			}
			if has := strings.Contains(got.Body, "sanafarm_test_total"); has != (c.status == 200) {
				t.Errorf("metrics in the answer: %v, want %v", has, c.status == 200)
			}
			if c.status == 401 && got.Header.Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
		})
	}
	// The metrics token opens only /metrics: it is no API token.
	req, _ := http.NewRequest(http.MethodGet, guarded.URL+api.PathJobs, nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s with the metrics token: %d, want 401", api.PathJobs, resp.StatusCode)
	}
}

func TestExtraTokenWarnings(t *testing.T) {
	long := strings.Repeat("m", minTokenLen)
	for _, c := range []struct {
		metrics, api string
		want         []string
	}{
		{"", "", nil},
		{"", long, nil},
		{long, "", nil},
		{long, long + "x", nil},
		{"short", long, []string{"5 bytes long"}},
		{long, long, []string{"is the API token"}},
		{"short", "short", []string{"5 bytes long", "is the API token"}},
	} {
		got := extraTokenWarnings("", c.metrics, c.api)
		ok := len(got) == len(c.want)
		for i := range c.want {
			ok = ok && strings.Contains(got[i], c.want[i])
		}
		if !ok {
			t.Errorf("metrics %q api %q: warnings %q, want %q", c.metrics, c.api, got, c.want)
		}
		for _, w := range got {
			if c.metrics != "" && strings.Contains(w, c.metrics) {
				t.Errorf("a warning quotes the token: %q", w)
			}
		}
	}
	if got := extraTokenWarnings("short", "", long); len(got) != 1 || !strings.Contains(got[0], "the read token is 5 bytes long") {
		t.Errorf("a short read token: %q", got)
	}
}
