package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

func newEventsAPI(t *testing.T, l eventLimits) (*eventHub, string) {
	t.Helper()
	h := newEventHub(l)
	return h, newTestAPIWith(t, newFake(), apiConfig{events: h}).URL
}

func getEvents(t *testing.T, ctx context.Context, url, token string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestParseEventQueryLimits: each filter list is bounded (fanOut matches
// every event against every stream's filter under the hub's lock, on the
// Raft apply path, and thousands of ?job= values per stream stalled it),
// and a refusal names the parameter and the count.
func TestParseEventQueryLimits(t *testing.T) {
	repeat := func(key string, n int) string {
		q := url.Values{}
		for i := range n {
			q.Add(key, fmt.Sprintf("v%d", i))
		}
		return q.Encode()
	}
	cases := []struct {
		name, query  string
		field, value string // "" = accepted
	}{
		{"jobs at the limit", repeat("job", api.MaxEventFilterValues), "", ""},
		{"nodes at the limit", repeat("node", api.MaxEventFilterValues), "", ""},
		{"one job too many", repeat("job", api.MaxEventFilterValues+1), "job", "65"},
		{"one node too many", repeat("node", api.MaxEventFilterValues+1), "node", "65"},
		{"thousands of jobs", repeat("job", 5000), "job", "5000"},
		{"jobs and too many nodes", repeat("job", 3) + "&" + repeat("node", 100), "node", "100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, api.PathEvents+"?"+c.query, nil)
			f, _, perr := parseEventQuery(r)
			if c.field == "" {
				if perr != nil || len(f.Jobs)+len(f.Nodes) != api.MaxEventFilterValues {
					t.Fatalf("refused or lost values: %v (%d jobs, %d nodes)", perr, len(f.Jobs), len(f.Nodes))
				}
				return
			}
			if perr == nil || perr.Code != protocol.CodeBadRequest || len(perr.Fields) != 1 ||
				perr.Fields[0].Field != c.field || perr.Fields[0].Value != c.value {
				t.Fatalf("err = %+v, want a bad_request naming %s = %s", perr, c.field, c.value)
			}
		})
	}
}

func TestEventsAPIRefusals(t *testing.T) {
	h, base := newEventsAPI(t, eventLimits{Streams: 1})
	cases := []struct {
		name, query, token string
		hdr                map[string]string
		status             int
		field              string
	}{
		{"no token", "", "", nil, http.StatusUnauthorized, ""},
		{"wrong token", "", "nope", nil, http.StatusUnauthorized, ""},
		{"bad since", "?since=abc", testToken, nil, http.StatusBadRequest, "since"},
		{"bad Last-Event-ID", "", testToken, map[string]string{"Last-Event-ID": "-1"}, http.StatusBadRequest, "Last-Event-ID"},
		{"bad job", "?job=a/b", testToken, nil, http.StatusBadRequest, "job"},
		{"empty node", "?node=", testToken, nil, http.StatusBadRequest, "node"},
		{"too many jobs", "?job=a" + strings.Repeat("&job=a", api.MaxEventFilterValues), testToken, nil, http.StatusBadRequest, "job"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := getEvents(t, context.Background(), base+api.PathEvents+c.query, c.token, c.hdr)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			var e protocol.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if c.field != "" && (len(e.Fields) == 0 || e.Fields[0].Field != c.field) {
				t.Fatalf("error %+v does not name %s", e, c.field)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := getEvents(t, ctx, base+api.PathEvents, testToken, nil)
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", first.StatusCode)
	}
	second := getEvents(t, context.Background(), base+api.PathEvents, testToken, nil)
	if second.StatusCode != http.StatusServiceUnavailable || second.Header.Get("Retry-After") == "" {
		t.Fatalf("stream beyond the limit: %d (Retry-After %q), want 503", second.StatusCode, second.Header.Get("Retry-After"))
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for h.streams() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.streams() != 0 {
		t.Fatal("a closed stream still counts against the limit")
	}
}

// sseReader reads SSE messages: "id data" per event, "# comment".
type sseReader struct{ sc *bufio.Scanner }

func (r sseReader) next(t *testing.T) (id string, data string, comment string) {
	t.Helper()
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "" && (id != "" || data != ""):
			return id, data, ""
		case strings.HasPrefix(line, ": "):
			return "", "", line[2:]
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
	t.Fatalf("stream ended: %v", r.sc.Err())
	return
}

// event skips comments and returns the next event.
func (r sseReader) event(t *testing.T) api.Event {
	t.Helper()
	for {
		id, data, _ := r.next(t)
		if data == "" {
			continue
		}
		var e api.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(e.ID) != id {
			t.Fatalf("SSE id %s, event id %d", id, e.ID)
		}
		return e
	}
}

func TestEventsAPIStream(t *testing.T) {
	h, base := newEventsAPI(t, eventLimits{Heartbeat: 50 * time.Millisecond})
	h.publishEntry(1, []api.Event{{Type: api.EventJob, Job: "a"}, {Type: api.EventJob, Job: "b"}})
	h.publishEntry(2, []api.Event{{Type: api.EventJob, Job: "a", State: "running"}})
	resume := fmt.Sprint(1 << eventSeqBits)
	resp := getEvents(t, context.Background(), base+api.PathEvents+"?job=a", testToken, map[string]string{"Last-Event-ID": resume})
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	r := sseReader{bufio.NewScanner(resp.Body)}
	if e := r.event(t); e.ID != 2<<eventSeqBits || e.State != "running" {
		t.Fatalf("resumed with %+v, want entry 2's event", e)
	}
	h.publishEntry(3, []api.Event{{Type: api.EventJob, Job: "b"}, {Type: api.EventTask, Job: "a"}})
	if e := r.event(t); e.ID != 3<<eventSeqBits+1 || e.Type != api.EventTask {
		t.Fatalf("live %+v, want job a's task event (job b filtered out)", e)
	}
	for {
		if _, _, c := r.next(t); c == "ping" {
			break // heartbeat
		}
	}
	// ?since= resumes too; older than the ring gives a reset.
	h2, base2 := newEventsAPI(t, eventLimits{Ring: 2})
	publishN(h2, 1, 5)
	resp2 := getEvents(t, context.Background(), base2+api.PathEvents+"?since=1", testToken, nil)
	if e := (sseReader{bufio.NewScanner(resp2.Body)}).event(t); e.Type != api.EventReset || e.ID != 5<<eventSeqBits {
		t.Fatalf("resume older than the ring: %+v, want a reset at the head", e)
	}
}

// TestEventsAPISlowClient: a client that stops reading is disconnected
// (write deadline or full buffer), and publishing never waits for it.
func TestEventsAPISlowClient(t *testing.T) {
	h, base := newEventsAPI(t, eventLimits{Buffer: 16, Write: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", api.PathEvents, testToken)
	for h.streams() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	big := strings.Repeat("x", 64<<10)
	start := time.Now()
	for i := uint64(1); i <= 400; i++ { // 25 MiB: more than the socket buffers hold
		h.publishEntry(i, []api.Event{{Type: api.EventJob, Job: "j", Reason: big}})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing to a slow client took %v", d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.streams() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.streams() != 0 {
		t.Fatal("the slow client's stream is still open")
	}
}
