package coordinator

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestAPIBrowserGuards: a browser page's cross-site write is refused with
// or without a token (the CLI, sending no browser headers, passes), and a
// token-less API answers only requests addressed to an IP, localhost or
// its advertised name (DNS rebinding).
func TestAPIBrowserGuards(t *testing.T) {
	for _, c := range []struct {
		name, token, method, path, host string
		headers                         map[string]string
		want                            int
	}{
		{"cli submit, no token", "", "POST", "/v1/jobs", "127.0.0.1:7700", nil, 201},
		{"cross-site submit, no token", "", "POST", "/v1/jobs", "127.0.0.1:7700",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"cross-site cancel, old browser (Origin only)", "", "POST", "/v1/jobs/j1/cancel", "localhost:7700",
			map[string]string{"Origin": "https://evil.example"}, 403},
		{"cross-site disable with the token", testToken, "POST", "/v1/nodes/n1/disable", "127.0.0.1:7700",
			map[string]string{"Sec-Fetch-Site": "same-site", "Authorization": "Bearer " + testToken}, 403},
		{"cross-site dashboard logout", testToken, "POST", "/ui/logout", "127.0.0.1:7700", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site dashboard login", testToken, "POST", "/ui/login", "127.0.0.1:7700", map[string]string{"Origin": "https://evil.example"}, 403},
		{"cross-site read is a read", "", "GET", "/v1/jobs", "127.0.0.1:7700", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"same-origin write", "", "POST", "/v1/jobs", "127.0.0.1:7700",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:7700"}, 201},
		{"rebound name, no token", "", "GET", "/v1/jobs", "evil.example:7700", map[string]string{"Sec-Fetch-Site": "same-origin"}, 403},
		{"rebound name, jobs", "", "GET", "/v1/jobs/j1", "evil.example", nil, 403},
		{"health by any name (a public probe)", "", "GET", "/v1/health", "c2.farm.example", nil, 200},
		{"advertised name, no token", "", "GET", "/v1/jobs", "C1.Farm.Example:7700", nil, 200},
		{"localhost, no token", "", "GET", "/v1/jobs", "localhost", nil, 200},
		{"ipv6, no token", "", "GET", "/v1/jobs", "[::1]:7700", nil, 200},
		{"any name with a token", testToken, "GET", "/v1/jobs", "evil.example",
			map[string]string{"Authorization": "Bearer " + testToken}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := guardAPI(newAPI(newFake(), apiConfig{token: c.token, id: "c1"}), c.token, advertisedHosts("https://c1.farm.example:7700"))
			var body *strings.Reader
			if c.method == "POST" && c.path == "/v1/jobs" {
				body = strings.NewReader(validBody)
			} else {
				body = strings.NewReader("")
			}
			r := httptest.NewRequest(c.method, "http://"+c.host+c.path, body)
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("%s %s (Host %s): %d %s, want %d", c.method, c.path, c.host, w.Code, w.Body, c.want)
			}
			if c.want == 403 {
				var e protocol.Error
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != protocol.CodeForbidden {
					t.Errorf("refusal %q: want a forbidden error (%v)", w.Body, err)
				}
			}
		})
	}
}

func TestExposureWarnings(t *testing.T) {
	long := strings.Repeat("k", minTokenLen)
	for _, c := range []struct {
		addr, token string
		tls         bool
		want        []string // substrings, one per warning
	}{
		{"127.0.0.1:7700", "", false, nil},
		{"[::1]:7700", "", false, nil},
		{"0.0.0.0:7700", "", false, []string{"has no token"}},
		{"10.0.0.1:7700", long, false, []string{"over plain HTTP"}},
		{"10.0.0.1:7700", long, true, nil},
		{"10.0.0.1:7700", "short", true, []string{"5 bytes long"}},
		{"127.0.0.1:7700", "short", false, []string{"5 bytes long"}},
	} {
		got := exposureWarnings(c.addr, c.token, c.tls)
		ok := len(got) == len(c.want)
		for i := range c.want {
			ok = ok && strings.Contains(got[i], c.want[i])
		}
		if !ok {
			t.Errorf("%s token %q tls %v: warnings %q, want %q", c.addr, c.token, c.tls, got, c.want)
		}
		for _, w := range got {
			if c.token != "" && strings.Contains(w, c.token) {
				t.Errorf("a warning quotes the token: %q", w)
			}
		}
	}
}

// healthBackend answers Health with h.
type healthBackend struct {
	*fakeBackend
	h api.Health
}

func (b healthBackend) Health() api.Health { return b.h }

// TestHealthWithoutToken: /v1/health answers without the token, but then
// leaves out the voters' addresses and disks, etcd's error text and members, the
// held bytes and the features in use (they tell which releases run).
func TestHealthWithoutToken(t *testing.T) {
	full := api.Health{ID: "c1", Role: "follower", Leader: "c2", LeaderAddr: "10.0.0.2:7701", AppliedIndex: 42,
		Voters: []api.Voter{{ID: "c1", Address: "10.0.0.1:7701", Suffrage: "Voter", DataFreeBytes: 3 << 30}, {ID: "c2", Address: "10.0.0.2:7701", Suffrage: "Voter", Leader: true}},
		NATS:   "CONNECTED", Etcd: "unreachable: dial tcp 10.0.0.9:2379: connection refused", JobSpecBytes: 1234, MaxJobBytes: 4096,
		FeaturesInUse: map[string]uint64{"task-requeue": 17}, DataFreeBytes: 5 << 30, MinDataFree: 1 << 30,
		EtcdMembers: []api.EtcdMember{{Endpoint: "https://10.0.0.9:2379", DBBytes: 1 << 20, DBInUseBytes: 1 << 19, QuotaBytes: 2 << 30}}}
	srv := newTestAPI(t, healthBackend{newFake(), full})
	for _, c := range []struct {
		token string
		want  api.Health
	}{
		{testToken, full},
		{"", api.Health{ID: "c1", Role: "follower", Leader: "c2", AppliedIndex: 42,
			Voters: []api.Voter{{ID: "c1", Suffrage: "Voter"}, {ID: "c2", Suffrage: "Voter", Leader: true}}, NATS: "CONNECTED", Etcd: "unreachable"}},
		{"wrong", api.Health{ID: "c1", Role: "follower", Leader: "c2", AppliedIndex: 42,
			Voters: []api.Voter{{ID: "c1", Suffrage: "Voter"}, {ID: "c2", Suffrage: "Voter", Leader: true}}, NATS: "CONNECTED", Etcd: "unreachable"}},
	} {
		r, _ := http.NewRequest("GET", srv.URL+api.PathHealth, nil)
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var got api.Health
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !reflect.DeepEqual(got, c.want) {
			t.Errorf("token %q: %d %+v (%v), want %+v", c.token, resp.StatusCode, got, err, c.want)
		}
	}
	if publicHealth(full); full.Voters[0].Address == "" {
		t.Error("publicHealth changed its argument's voters")
	}
}

// FuzzHostAllowed: any Host header is judged without a panic, and one
// that is allowed names an IP, localhost or the advertised host.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7700", "[::1]:7700", "localhost", "a.localhost:1", "c1.farm.example", "evil.example:80",
		"", "[", "::1", "C1.FARM.EXAMPLE.", "1.2.3.4.nip.io", "%31%32"} {
		f.Add(s)
	}
	hosts := advertisedHosts("https://c1.farm.example:7700")
	f.Fuzz(func(t *testing.T, host string) {
		if !hostAllowed(host, hosts) {
			return
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
		if h != "" && net.ParseIP(h) == nil && h != "localhost" && !strings.HasSuffix(h, ".localhost") && h != "c1.farm.example" {
			t.Errorf("Host %q allowed", host)
		}
	})
}
