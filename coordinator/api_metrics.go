package coordinator

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves /metrics (docs/deploy.md, Metrics). Without a
// metrics token it is public, as Prometheus expects by default. With one
// (Config.MetricsToken), a scrape must bear it — or the API or read token,
// so an operator's own curl works. A separate token means the credential handed
// to a monitoring system reads counts and states but cannot submit, cancel
// or drain, and the API token never sits in a scrape config. Wrong tokens
// spend the client's budget as on the API (authlimit.go).
func (a *apiServer) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(a.cfg.metrics, promhttp.HandlerOpts{}).ServeHTTP
	if a.cfg.metricsToken == "" {
		return h
	}
	return a.authAny(h, a.cfg.metricsToken, a.cfg.token, a.cfg.readToken)
}

// extraTokenWarnings are what an operator should hear at start-up about
// the read and metrics tokens: a short one, or a metrics token that is the
// API token itself (which puts a credential that can submit and cancel
// into the scrape config).
func extraTokenWarnings(readToken, metricsToken, apiToken string) []string {
	var out []string
	for _, t := range []struct{ name, value string }{{"read", readToken}, {"metrics", metricsToken}} {
		if t.value != "" && len(t.value) < minTokenLen {
			out = append(out, fmt.Sprintf("the %s token is %d bytes long: use at least %d random bytes (openssl rand -hex 32)", t.name, len(t.value), minTokenLen))
		}
	}
	if metricsToken != "" && metricsToken == apiToken {
		out = append(out, "the metrics token is the API token: whoever holds the scrape config can then submit, cancel and drain (give /metrics its own token)")
	}
	return out
}
