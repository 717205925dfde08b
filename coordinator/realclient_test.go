package coordinator

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
)

var testProxies = []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16"), netip.MustParsePrefix("fd00::/8")}

func TestForwardedClient(t *testing.T) {
	many := strings.TrimSuffix(strings.Repeat("10.10.0.9,", maxForwardHops), ",")
	cases := []struct {
		name, peer string
		values     []string
		want       string // "" keeps the peer
	}{
		{"from the balancer", "10.10.0.5:4000", []string{"203.0.113.9"}, "203.0.113.9:0"},
		{"rightmost untrusted wins", "10.10.0.5:4000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9:0"},
		{"past trusted hops", "10.10.0.5:4000", []string{"1.2.3.4, 203.0.113.9, 10.10.0.7"}, "203.0.113.9:0"},
		{"over several headers", "10.10.0.5:4000", []string{"198.51.100.1", "10.10.0.8"}, "198.51.100.1:0"},
		{"IPv4 in IPv6", "10.10.0.5:4000", []string{"::ffff:203.0.113.9"}, "203.0.113.9:0"},
		{"IPv6 client", "[fd00::1]:4000", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
		{"untrusted peer", "203.0.113.50:4000", []string{"198.51.100.7"}, ""},
		{"no header", "10.10.0.5:4000", nil, ""},
		{"empty header", "10.10.0.5:4000", []string{""}, ""},
		{"garbage on the right", "10.10.0.5:4000", []string{"203.0.113.9, evil"}, ""},
		{"only trusted hops", "10.10.0.5:4000", []string{"10.10.0.6, 10.10.0.7"}, ""},
		{"too many hops", "10.10.0.5:4000", []string{"203.0.113.9," + many}, ""},
		{"a port is not an address", "10.10.0.5:4000", []string{"203.0.113.9:5555"}, ""},
	}
	for _, tc := range cases {
		got, ok := forwardedClient(tc.peer, tc.values, testProxies)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}

// FuzzForwardedClient: any X-Forwarded-For a client can send never panics,
// and a client taken from it is an untrusted address that the header
// names.
func FuzzForwardedClient(f *testing.F) {
	f.Add("10.10.0.5:4000", "1.2.3.4, 203.0.113.9, 10.10.0.7")
	f.Add("[fd00::1]:1", "2001:db8::7%eth0")
	f.Add("10.10.0.5:4000", ",,,")
	f.Add("10.10.0.5", "::ffff:10.10.0.1, 0.0.0.0")
	f.Fuzz(func(t *testing.T, peer, header string) {
		got, ok := forwardedClient(peer, []string{header}, testProxies)
		if !ok {
			return
		}
		host, port, err := net.SplitHostPort(got)
		ip, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || port != "0" || inPrefixes(ip, testProxies) {
			t.Fatalf("client %q from %q", got, header)
		}
		for _, e := range strings.Split(header, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil && a.Unmap() == ip {
				return
			}
		}
		t.Fatalf("client %q is not in %q", got, header)
	})
}

// TestThrottlePerForwardedClient: behind a trusted load balancer, one
// guesser no longer locks out the other clients of a short token — each
// counts as the address the balancer names; from an untrusted peer the
// header changes nothing; without trusted proxies every client is the
// balancer, as before.
func TestThrottlePerForwardedClient(t *testing.T) {
	const token = "short-token" // under strongTokenLen: the strict throttle
	for _, tc := range []struct {
		name        string
		proxies     []netip.Prefix
		holderAfter int
	}{
		{"trusted balancer", testProxies, http.StatusOK},
		{"no trusted proxies", nil, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			b := healthBackend{newFake(), api.Health{ID: "c1", Role: "leader", Leader: "c1"}}
			h := newAPI(b, apiConfig{token: token, id: "c1", authLimit: newAuthLimiter(clock.Now, nil), proxies: tc.proxies})
			call := func(peer, client, tok string) int {
				r := httptest.NewRequest(http.MethodGet, api.PathJobs, nil)
				r.RemoteAddr = peer
				r.Header.Set("X-Forwarded-For", client)
				r.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code
			}
			const lb = "10.10.0.5:4000"
			for i := range authFailBurst {
				call(lb, "203.0.113.9", fmt.Sprintf("guess-%d", i))
			}
			if code := call(lb, "203.0.113.9", token); code != http.StatusTooManyRequests {
				t.Fatalf("the guesser itself: %d, want 429", code)
			}
			if code := call(lb, "198.51.100.7", token); code != tc.holderAfter {
				t.Fatalf("another client of the balancer with the token: %d, want %d", code, tc.holderAfter)
			}
			// The dashboard's log-in counts the same client.
			form := url.Values{"token": {token}, "next": {"/ui/"}}
			r := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
			r.RemoteAddr = lb
			r.Header.Set("X-Forwarded-For", "198.51.100.8")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			throttled := w.Code == http.StatusUnauthorized && strings.Contains(w.Body.String(), "too many wrong tokens from this address")
			if tc.proxies != nil && w.Code != http.StatusSeeOther || tc.proxies == nil && !throttled {
				t.Fatalf("dashboard log-in of another client of the balancer: %d %.200s", w.Code, w.Body)
			}
			// A direct client cannot pick its address by header.
			for i := range authFailBurst {
				call("192.0.2.1:5000", fmt.Sprintf("192.0.2.%d", 100+i), fmt.Sprintf("guess-%d", i))
			}
			if code := call("192.0.2.1:5000", "192.0.2.200", token); code != http.StatusTooManyRequests {
				t.Fatalf("a direct guesser with a new header each try: %d, want 429", code)
			}
		})
	}
}
