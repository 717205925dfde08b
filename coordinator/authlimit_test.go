package coordinator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestClientKey(t *testing.T) {
	ctxWith := func(addr string) context.Context {
		return context.WithValue(context.Background(), remoteAddrKey{}, addr)
	}
	for _, tc := range []struct {
		remote string
		ctx    context.Context
		want   string
	}{
		{"192.0.2.7:51234", context.Background(), "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", context.Background(), "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:443", context.Background(), "2001:db8:1:2::/64"}, // same /64, same budget
		{"[::ffff:192.0.2.7]:80", context.Background(), "192.0.2.7"},
		{"", ctxWith("198.51.100.4:9999"), "198.51.100.4"}, // the dashboard's in-process call
		{"192.0.2.7:1", ctxWith("198.51.100.4:9999"), "198.51.100.4"},
		{"pipe", context.Background(), "pipe"},
	} {
		r := httptest.NewRequestWithContext(tc.ctx, http.MethodGet, "/v1/jobs", nil)
		r.RemoteAddr = tc.remote
		if got := clientKey(r); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

func TestAuthLimiterBudget(t *testing.T) {
	clock := &fakeClock{now: t0}
	l := newAuthLimiter(clock.Now, nil)
	for i := range authFailBurst {
		if _, throttled := l.throttled("a"); throttled {
			t.Fatalf("throttled after %d failures, want %d allowed", i, authFailBurst)
		}
		if _, _, ok := l.try("a"); !ok {
			t.Fatalf("try %d refused, want %d allowed", i, authFailBurst)
		}
	}
	wait, throttled := l.throttled("a")
	if !throttled || wait <= 0 || wait > authFailEvery {
		t.Fatalf("after %d failures: throttled %v, wait %v", authFailBurst, throttled, wait)
	}
	if _, throttled := l.throttled("b"); throttled {
		t.Fatal("another client throttled")
	}
	clock.Add(authFailEvery)
	if _, throttled := l.throttled("a"); throttled {
		t.Fatal("no try back after authFailEvery")
	}
	if _, _, ok := l.try("a"); !ok {
		t.Fatal("no try after the refill")
	}
	if _, throttled := l.throttled("a"); !throttled {
		t.Fatal("a wrong try after the refill was not throttled again")
	}
	clock.Add(authFailEvery)
	refund, _, ok := l.try("a")
	if !ok {
		t.Fatal("no try after the second refill")
	}
	refund() // a right token gives its try back
	if _, throttled := l.throttled("a"); throttled {
		t.Fatal("a right token spent the budget")
	}
}

func TestAuthLimiterBounded(t *testing.T) {
	clock := &fakeClock{now: t0}
	l := newAuthLimiter(clock.Now, nil)
	for i := range 3 * authFailClients {
		l.try(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255))
	}
	if n := len(l.by); n > authFailClients {
		t.Fatalf("%d clients tracked, bound %d", n, authFailClients)
	}
}

// TestAPIThrottlesWrongTokens: past the budget of wrong tokens a client
// gets 429 with Retry-After and its tokens are not looked at — not even a
// right one, nor through the health endpoint's fuller answer — while other
// clients are served; the budget comes back with time.
func TestAPIThrottlesWrongTokens(t *testing.T) {
	clock := &fakeClock{now: t0}
	h := newAPI(newFake(), apiConfig{token: testToken, id: "c1", authLimit: newAuthLimiter(clock.Now, nil)})
	call := func(remote, path, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = remote
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const guesser, other = "203.0.113.9:4000", "198.51.100.1:4000"
	for range 5 { // a missing token is refused but spends nothing
		if w := call(guesser, api.PathJobs, ""); w.Code != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", w.Code)
		}
	}
	for i := range authFailBurst {
		if w := call(guesser, api.PathJobs, fmt.Sprintf("guess-%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i, w.Code)
		}
	}
	w := call(guesser, api.PathJobs, testToken)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), string(protocol.CodeTooManyRequests)) {
		t.Fatalf("right token from a throttled client: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := call(guesser, api.PathHealth, testToken); w.Code != http.StatusOK || strings.Contains(w.Body.String(), "leader_addr") {
		t.Fatalf("health for a throttled client: %d %s (want the public answer)", w.Code, w.Body)
	}
	if w := call(other, api.PathJobs, testToken); w.Code != http.StatusOK {
		t.Fatalf("another client: %d, want 200", w.Code)
	}
	clock.Add(authFailEvery)
	if w := call(guesser, api.PathJobs, testToken); w.Code != http.StatusOK {
		t.Fatalf("right token after the wait: %d, want 200", w.Code)
	}
}

// TestDashboardLoginThrottled: the dashboard's log-in checks the token
// through the API in process, and those checks count against the
// browser's address, not the coordinator's own.
func TestDashboardLoginThrottled(t *testing.T) {
	clock := &fakeClock{now: t0}
	h := newAPI(newFake(), apiConfig{token: testToken, id: "c1", authLimit: newAuthLimiter(clock.Now, nil)})
	login := func(remote, token string) *httptest.ResponseRecorder {
		form := url.Values{"token": {token}, "next": {"/ui/"}}
		r := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range authFailBurst {
		if w := login("203.0.113.9:1", fmt.Sprintf("guess-%d", i)); !strings.Contains(w.Body.String(), "not accepted") {
			t.Fatalf("wrong token %d: %d %.300s", i, w.Code, w.Body)
		}
	}
	if w := login("203.0.113.9:1", testToken); w.Code == http.StatusSeeOther || !strings.Contains(w.Body.String(), "too many wrong tokens") {
		t.Fatalf("right token from a throttled browser: %d %.300s", w.Code, w.Body)
	}
	if w := login("198.51.100.1:1", testToken); w.Code != http.StatusSeeOther {
		t.Fatalf("another browser: %d %.300s, want a redirect (logged in)", w.Code, w.Body)
	}
}

// TestAPIThrottleConcurrent: wrong tokens sent all at once get at most the
// budget's tries between them (the try is taken before the token is
// compared, in one step with the check).
func TestAPIThrottleConcurrent(t *testing.T) {
	clock := &fakeClock{now: t0}
	h := newAPI(newFake(), apiConfig{token: testToken, id: "c1", authLimit: newAuthLimiter(clock.Now, nil)})
	const n = 200
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodGet, api.PathJobs, nil)
			r.RemoteAddr = "203.0.113.9:4000"
			r.Header.Set("Authorization", fmt.Sprintf("Bearer guess-%d", i))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			codes[i] = w.Code
		})
	}
	wg.Wait()
	checked := 0
	for _, c := range codes {
		if c == http.StatusUnauthorized {
			checked++
		}
	}
	if checked > authFailBurst {
		t.Fatalf("%d of %d concurrent wrong tokens were checked, budget %d", checked, n, authFailBurst)
	}
}

// TestAPIRightTokensNeverThrottled: right tokens give their try back (on
// the real clock: a refund made after the try must still count), so a
// client making many requests is never throttled for them.
func TestAPIRightTokensNeverThrottled(t *testing.T) {
	h := newAPI(newFake(), apiConfig{token: testToken, id: "c1"})
	for i := range 5 * authFailBurst {
		r := httptest.NewRequest(http.MethodGet, api.PathJobs, nil)
		r.RemoteAddr = "198.51.100.1:4000"
		r.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("right token %d: %d %s", i, w.Code, w.Body)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStrongTokenPassesThrottle: behind one address (a load balancer) a
// guesser's wrong tokens throttle the address, but a strong API token
// still gets in — API, the health's full answer and the dashboard's
// log-in — while wrong tokens keep getting 429.
func TestStrongTokenPassesThrottle(t *testing.T) {
	strong := strings.Repeat("k", strongTokenLen)
	clock := &fakeClock{now: t0}
	b := healthBackend{newFake(), api.Health{ID: "c1", Role: "leader", Leader: "c1", LeaderAddr: "10.0.0.1:7701"}}
	h := newAPI(b, apiConfig{token: strong, id: "c1", authLimit: newAuthLimiter(clock.Now, nil)})
	const lb = "10.10.0.5:4000" // every client, as the balancer forwards it
	call := func(method, path, token string, body io.Reader) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, body)
		r.RemoteAddr = lb
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		if body != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range authFailBurst {
		call(http.MethodGet, api.PathJobs, fmt.Sprintf("guess-%d", i), nil)
	}
	if w := call(http.MethodGet, api.PathJobs, "guess-next", nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("a wrong token from the throttled address: %d, want 429", w.Code)
	}
	if w := call(http.MethodGet, api.PathJobs, strong[:strongTokenLen-1]+"x", nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("a near miss from the throttled address: %d, want 429", w.Code)
	}
	if w := call(http.MethodGet, api.PathJobs, strong, nil); w.Code != http.StatusOK {
		t.Fatalf("the strong token from the throttled address: %d %s, want 200", w.Code, w.Body)
	}
	if w := call(http.MethodGet, api.PathHealth, strong, nil); !strings.Contains(w.Body.String(), "10.0.0.1:7701") {
		t.Fatalf("health with the strong token from the throttled address: %s", w.Body)
	}
	form := url.Values{"token": {strong}, "next": {"/ui/"}}
	if w := call(http.MethodPost, "/ui/login", "", strings.NewReader(form.Encode())); w.Code != http.StatusSeeOther {
		t.Fatalf("dashboard log-in with the strong token from the throttled address: %d %.300s", w.Code, w.Body)
	}
	// A short token keeps the strict throttle (TestAPIThrottlesWrongTokens).
	if got := strongTokens([]string{"", "short", strong}); len(got) != 1 || got[0] != strong {
		t.Errorf("strongTokens = %q", got)
	}
}
