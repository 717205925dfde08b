package coordinator

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// Browser guards of the API and dashboard (docs/deploy.md, "Securing the
// farm"). A web page the operator visits can send requests to the API:
//
//   - Cross-site writes. A page's form or fetch(mode "no-cors") POSTs to
//     http://127.0.0.1:7700/v1/jobs with no preflight. Without a token
//     that submits, cancels or disables. Browsers mark such requests
//     (Sec-Fetch-Site, Origin), and http.CrossOriginProtection refuses
//     any that are not same-origin; the CLI, curl and other coordinators
//     send neither header and pass.
//   - DNS rebinding. A page at evil.example, re-resolved to 127.0.0.1,
//     reads the API as same-origin. It can only do that by naming its own
//     host in the Host header. So without a token the API answers only
//     requests addressed to an IP, localhost, or this coordinator's own
//     advertised name. With a token the page has no token to send.

// guardAPI wraps the API's handler in both guards. hosts are the names,
// besides IPs and localhost, a token-less API answers to.
func guardAPI(h http.Handler, token string, hosts []string) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, protocol.Errorf(protocol.CodeForbidden,
			"%s %s: a cross-origin request from a browser page (origin %q) is refused; use the dashboard's own pages, the CLI or the API without a browser",
			r.Method, shortValue(r.URL.Path), shortValue(r.Header.Get("Origin"))))
	}))
	h = cop.Handler(h)
	if token != "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !publicProbe(r) && !hostAllowed(r.Host, hosts) {
			writeError(w, &protocol.Error{Code: protocol.CodeForbidden,
				Message: "this API has no token, so it answers only requests addressed to an IP address, localhost or its advertised name: " +
					"set SANAFARM_TOKEN to serve other names",
				Fields: []protocol.FieldError{{Field: "Host", Value: shortValue(r.Host), Problem: "not an IP, localhost or " + strings.Join(hosts, ", ")}}})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// publicProbe reports whether r is a GET of /v1/health or /metrics: they
// answer without a token even when one is set, so the host check adds
// nothing there, and monitoring often scrapes by name.
func publicProbe(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == api.PathHealth || r.URL.Path == api.PathMetrics)
}

// hostAllowed reports whether a Host header names an IP, localhost, or
// one of hosts (case-insensitive, any port).
func hostAllowed(hostport string, hosts []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" || net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // "" : HTTP/1.0 without Host, which no browser sends
	}
	for _, h := range hosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// advertisedHosts are the names of this coordinator's API URL (none for an
// IP URL).
func advertisedHosts(advertise string) []string {
	u, err := url.Parse(advertise)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return nil
	}
	return []string{strings.ToLower(u.Hostname())}
}

// exposureWarnings are what an operator should hear at start-up about the
// API's exposure: no token beyond loopback, a token over plain HTTP, a
// short token.
func exposureWarnings(addr string, token string, tls bool) []string {
	var out []string
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	loopback := err == nil && (host == "localhost" || ip != nil && ip.IsLoopback())
	switch {
	case token == "" && !loopback:
		out = append(out, fmt.Sprintf("the API on %s has no token: anyone who reaches it can submit, cancel and drain (set SANAFARM_TOKEN)", addr))
	case token != "" && !tls && !loopback:
		out = append(out, fmt.Sprintf("the API on %s takes its token over plain HTTP: anyone on the path can read it (serve it with --tls-cert/--tls-key)", addr))
	}
	if token != "" && len(token) < minTokenLen {
		out = append(out, fmt.Sprintf("the API token is %d bytes long: use at least %d random bytes (openssl rand -hex 32)", len(token), minTokenLen))
	}
	return out
}

// minTokenLen is the shortest token that does not draw a warning.
const minTokenLen = 16
