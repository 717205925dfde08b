package coordinator

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// thief is a server that should never see a forwarded write.
func thief(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Errorf("forwarded to an unverified target: %s %s, Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func fakeResolver(names map[string][]string) func(context.Context, string) ([]string, error) {
	return func(_ context.Context, host string) ([]string, error) {
		if a, ok := names[host]; ok {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

// TestAPIForwardVerifiesLeader (issue 13: followers forwarded writes, the
// token included, to whatever URL etcd held): a write is forwarded only to
// a URL on the Raft host of the current Raft leader, a configuration
// member; anything else is a 503 and no request leaves.
func TestAPIForwardVerifiesLeader(t *testing.T) {
	evil, hits := thief(t)
	port := evil.URL[strings.LastIndexByte(evil.URL, ':'):]
	resolve := fakeResolver(map[string][]string{"evil.example": {"10.9.9.9"}, "c2.internal": {"10.0.0.2"}})
	cases := []struct {
		name string
		li   leaderInfo
	}{
		{"another host", leaderInfo{ID: "c2", RaftAddr: "10.0.0.2:7701", URL: evil.URL}},
		{"leader not a raft server", leaderInfo{ID: "c9", URL: evil.URL}},
		{"no leader", leaderInfo{URL: evil.URL}},
		{"name on another host", leaderInfo{ID: "c2", RaftAddr: "c2.internal:7701", URL: "http://evil.example" + port}},
		{"unresolvable name", leaderInfo{ID: "c2", RaftAddr: "c2.internal:7701", URL: "http://nowhere.example" + port}},
		{"user info", leaderInfo{ID: "c2", RaftAddr: "127.0.0.1:7701", URL: "http://u:p@" + evil.Listener.Addr().String()}},
		{"path", leaderInfo{ID: "c2", RaftAddr: "127.0.0.1:7701", URL: evil.URL + "/steal"}},
		{"query", leaderInfo{ID: "c2", RaftAddr: "127.0.0.1:7701", URL: evil.URL + "?x=1"}},
		{"scheme", leaderInfo{ID: "c2", RaftAddr: "127.0.0.1:7701", URL: "gopher://127.0.0.1" + port}},
		{"not a url", leaderInfo{ID: "c2", RaftAddr: "127.0.0.1:7701", URL: "::"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			follower := newFake()
			follower.leader, follower.fwd = false, c.li
			srv := newTestAPIWith(t, follower, apiConfig{lookupHost: resolve})
			for _, path := range []string{"/v1/jobs", "/v1/jobs/j-1/cancel"} {
				resp := call(t, srv.URL, "POST", path, testToken, validBody)
				var e protocol.Error
				_ = json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || e.Code != protocol.CodeUnavailable {
					t.Fatalf("POST %s: status %d, error %+v; want 503 unavailable", path, resp.StatusCode, e)
				}
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d writes reached the unverified target", n)
	}
}

// TestAPIForwardTransport: a verified leader reached by name (resolving to
// its Raft host) gets the write, the token with it, through the injected
// transport (apiConfig.forward).
func TestAPIForwardTransport(t *testing.T) {
	var auth atomic.Value
	leader := newFake()
	inner := newAPI(leader, apiConfig{token: testToken, id: "c2"})
	leaderSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		inner.ServeHTTP(w, r)
	}))
	defer leaderSrv.Close()
	addr := leaderSrv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	var dials atomic.Int64
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		if a != "leader.example:"+port {
			t.Errorf("dialing %s", a)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	follower := newFake()
	follower.leader = false
	follower.fwd = leaderInfo{ID: "c2", RaftAddr: "c2.internal:7701", URL: "http://leader.example:" + port}
	srv := newTestAPIWith(t, follower, apiConfig{forward: tr,
		lookupHost: fakeResolver(map[string][]string{"leader.example": {"127.0.0.1"}, "c2.internal": {"::ffff:127.0.0.1"}})})
	resp := call(t, srv.URL, "POST", "/v1/jobs?id=j-fwd", testToken, validBody)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if _, ok := leader.jobs["j-fwd"]; !ok || dials.Load() == 0 || auth.Load() != "Bearer "+testToken {
		t.Fatalf("leader jobs %v, %d dials through the injected transport, Authorization %q", leader.jobs, dials.Load(), auth.Load())
	}
}
