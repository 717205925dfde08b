package coordinator

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// fakeBackend is an in-memory backend for the HTTP layer.
type fakeBackend struct {
	mu     sync.Mutex
	jobs   map[protocol.JobID]protocol.Job
	leader bool
	fwd    leaderInfo // where a follower forwards
}

var _ backend = (*fakeBackend)(nil)

func newFake() *fakeBackend {
	return &fakeBackend{jobs: map[protocol.JobID]protocol.Job{}, leader: true}
}

func (f *fakeBackend) SubmitJob(_ context.Context, id protocol.JobID, spec protocol.JobSpec) (protocol.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "" {
		id = protocol.NewJobID()
	}
	j := protocol.Job{ID: id, Spec: spec, State: protocol.JobQueued, Shards: spec.Shards(), Images: spec.Samples()}
	f.jobs[id] = j
	return j, nil
}

func (f *fakeBackend) CancelJob(_ context.Context, id protocol.JobID, reason string) (protocol.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	switch {
	case !ok:
		return j, protocol.Errorf(protocol.CodeNotFound, "job %s not found", id)
	case j.State.Terminal():
		return j, protocol.Errorf(protocol.CodeConflict, "job %s is %s", id, j.State)
	}
	j.State, j.Error = protocol.JobCancelled, reason
	f.jobs[id] = j
	return j, nil
}

func (f *fakeBackend) JobDetail(id protocol.JobID, from, limit int) (api.JobDetail, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	return api.JobDetail{Job: j, Counts: api.TaskCounts{Queued: j.Shards}}, ok
}

// JobsPage pages the fake's jobs newest first by id (job ids start with
// their creation time).
func (f *fakeBackend) JobsPage(st protocol.JobState, after protocol.JobID, limit int) ([]protocol.Job, protocol.JobID, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.jobs[after]; after != "" && !ok {
		return nil, "", false
	}
	out := []protocol.Job{}
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(f.jobs))) {
		j := f.jobs[id]
		if (after != "" && id >= after) || (st != "" && j.State != st) {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID, true
		}
		out = append(out, j)
	}
	return out, "", true
}

func (f *fakeBackend) Nodes() []api.NodeStatus {
	return []api.NodeStatus{{Info: protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 1}, Live: true}}
}
func (f *fakeBackend) Health() api.Health { return api.Health{ID: "c1", Role: "leader", Leader: "c1"} }
func (f *fakeBackend) IsLeader() bool     { return f.leader }
func (f *fakeBackend) forwardLeader(context.Context) (leaderInfo, error) {
	return f.fwd, nil
}

const testToken = "s3cret"

func newTestAPI(t *testing.T, b backend) *httptest.Server {
	t.Helper()
	return newTestAPIWith(t, b, apiConfig{})
}

func newTestAPIWith(t *testing.T, b backend, cfg apiConfig) *httptest.Server {
	t.Helper()
	cfg.token, cfg.id = testToken, "c1"
	srv := httptest.NewServer(newAPI(b, cfg))
	t.Cleanup(srv.Close)
	return srv
}

const validBody = `{"model":"sana-tiny","seed":1,"prompts":{"inline":["a fox","a cat"]},"output":{"url":"/tmp/out"}}`

func TestAPIRequests(t *testing.T) {
	srv := newTestAPI(t, newFake())
	big := `{"model":"sana-tiny","prompts":{"inline":["` + strings.Repeat("x", 20<<20) + `"]},"output":{"url":"/o"}}`
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            protocol.Code
		field                           string
	}{
		{"no token", "GET", "/v1/jobs", "", "", 401, protocol.CodeUnauthorized, ""},
		{"wrong token", "GET", "/v1/jobs", "nope", "", 401, protocol.CodeUnauthorized, ""},
		{"health needs no token", "GET", "/v1/health", "", "", 200, "", ""},
		{"submit", "POST", "/v1/jobs", testToken, validBody, 201, "", ""},
		{"steps 0", "POST", "/v1/jobs", testToken, strings.Replace(validBody, `"seed":1`, `"seed":1,"steps":0`, 1), 400, protocol.CodeBadRequest, "steps"},
		{"unknown model", "POST", "/v1/jobs", testToken, strings.Replace(validBody, "sana-tiny", "sana-9000", 1), 400, protocol.CodeBadRequest, "model"},
		{"width 500", "POST", "/v1/jobs", testToken, strings.Replace(validBody, `"seed":1`, `"seed":1,"width":500`, 1), 400, protocol.CodeBadRequest, "width"},
		{"steps -1", "POST", "/v1/jobs", testToken, strings.Replace(validBody, `"seed":1`, `"seed":1,"steps":-1`, 1), 400, protocol.CodeBadRequest, "steps"},
		{"NaN guidance", "POST", "/v1/jobs", testToken, strings.Replace(validBody, `"seed":1`, `"seed":1,"guidance":NaN`, 1), 400, protocol.CodeBadRequest, "guidance"},
		{"string guidance", "POST", "/v1/jobs", testToken, strings.Replace(validBody, `"seed":1`, `"seed":1,"guidance":"NaN"`, 1), 400, protocol.CodeBadRequest, "guidance"},
		{"unknown field", "POST", "/v1/jobs", testToken, strings.Replace(validBody, `"seed":1`, `"seed":1,"stepz":3`, 1), 400, protocol.CodeBadRequest, "stepz"},
		{"empty body", "POST", "/v1/jobs", testToken, "", 400, protocol.CodeBadRequest, ""},
		{"20 MB body", "POST", "/v1/jobs", testToken, big, 413, protocol.CodeTooLarge, ""},
		{"unknown job", "GET", "/v1/jobs/j-none", testToken, "", 404, protocol.CodeNotFound, ""},
		{"cancel unknown", "POST", "/v1/jobs/j-none/cancel", testToken, "", 404, protocol.CodeNotFound, ""},
		{"bad state filter", "GET", "/v1/jobs?state=zombie", testToken, "", 400, protocol.CodeBadRequest, "state"},
		{"bad limit", "GET", "/v1/jobs/x?tasks=1&limit=-3", testToken, "", 400, protocol.CodeBadRequest, "limit"},
		{"job page over the max", "GET", "/v1/jobs?limit=1001", testToken, "", 400, protocol.CodeBadRequest, "limit"},
		{"job page at the max", "GET", "/v1/jobs?limit=1000", testToken, "", 200, "", ""},
		{"cursor not a job id", "GET", "/v1/jobs?after=a%2Fb", testToken, "", 400, protocol.CodeBadRequest, "after"},
		{"unknown cursor", "GET", "/v1/jobs?after=j-none", testToken, "", 400, protocol.CodeBadRequest, "after"},
		{"unknown route", "GET", "/v2/everything", testToken, "", 404, protocol.CodeNotFound, ""},
		{"nodes", "GET", "/v1/nodes", testToken, "", 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := call(t, srv.URL, c.method, c.path, c.token, c.body)
			defer resp.Body.Close()
			if resp.StatusCode != c.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.code == "" {
				return
			}
			var e protocol.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Code != c.code {
				t.Fatalf("error body %+v (%v), want code %s", e, err, c.code)
			}
			if c.field != "" && (len(e.Fields) == 0 || e.Fields[0].Field != c.field) {
				t.Fatalf("fields %+v, want %s", e.Fields, c.field)
			}
		})
	}
}

func call(t *testing.T, base, method, path, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestAPIClient drives the fake through the Go client: submit, get, list,
// cancel twice (conflict), and error decoding.
func TestAPIClient(t *testing.T) {
	srv := newTestAPI(t, newFake())
	ctx := context.Background()
	c := client.New(srv.URL, testToken)
	var spec protocol.JobSpec
	if err := json.Unmarshal([]byte(validBody), &spec); err != nil {
		t.Fatal(err)
	}
	j, err := c.SubmitJob(ctx, spec)
	if err != nil || j.Shards != 1 || j.State != protocol.JobQueued {
		t.Fatalf("submit: %+v %v", j, err)
	}
	if d, err := c.Job(ctx, j.ID, false, 0, 0); err != nil || d.Job.ID != j.ID || d.Counts.Queued != 1 {
		t.Fatalf("job: %+v %v", d, err)
	}
	if l, err := c.Jobs(ctx, protocol.JobQueued); err != nil || len(l) != 1 {
		t.Fatalf("jobs: %v %v", l, err)
	}
	if j, err := c.Cancel(ctx, j.ID, "test"); err != nil || j.State != protocol.JobCancelled {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	if _, err := c.Cancel(ctx, j.ID, "again"); protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatalf("second cancel: %v", err)
	}
	spec.Steps = -1
	_, err = c.SubmitJob(ctx, spec)
	if pe, ok := err.(*protocol.Error); !ok || pe.Code != protocol.CodeBadRequest || pe.Fields[0].Field != "steps" {
		t.Fatalf("bad spec: %#v", err)
	}
	if _, err := client.New(srv.URL, "wrong").Nodes(ctx); protocol.CodeOf(err) != protocol.CodeUnauthorized {
		t.Fatalf("wrong token: %v", err)
	}
	if h, err := c.Health(ctx); err != nil || h.Role != "leader" {
		t.Fatalf("health %+v %v", h, err)
	}
}

// TestAPIForwardsWrites: a follower proxies writes to the leader's URL and
// serves reads itself.
func TestAPIForwardsWrites(t *testing.T) {
	leader := newFake()
	leaderSrv := newTestAPI(t, leader)
	follower := newFake()
	follower.leader, follower.fwd = false, leaderInfo{ID: "c2", RaftAddr: "127.0.0.1:7701", URL: leaderSrv.URL}
	c := client.New(newTestAPI(t, follower).URL, testToken)
	var spec protocol.JobSpec
	_ = json.Unmarshal([]byte(validBody), &spec)
	j, err := c.SubmitJob(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := leader.jobs[j.ID]; !ok || len(follower.jobs) != 0 {
		t.Fatalf("submit was not forwarded: leader %d jobs, follower %d", len(leader.jobs), len(follower.jobs))
	}
	// A forwarded request that reaches a non-leader is refused, not looped.
	leader.leader = false
	leader.fwd = follower.fwd
	c.Retries = 0
	if _, err := c.SubmitJob(context.Background(), spec); protocol.CodeOf(err) != protocol.CodeNotLeader {
		t.Fatalf("double forward: %v", err)
	}
}

// TestAPIBearerScheme (issue 13 item 8): the auth scheme is
// case-insensitive (RFC 7235), the token is not.
func TestAPIBearerScheme(t *testing.T) {
	srv := newTestAPI(t, newFake())
	cases := map[string]int{
		"Bearer " + testToken:       200,
		"bearer " + testToken:       200,
		"BEARER " + testToken:       200,
		"bEaReR  " + testToken:      200,
		"Bearer S3CRET":             401,
		"Bearer " + testToken + "x": 401,
		"Basic " + testToken:        401,
		"Bearer" + testToken:        401,
		testToken:                   401,
		"Bearer":                    401,
		"":                          401,
	}
	for h, want := range cases {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/jobs", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: status %d, want %d", h, resp.StatusCode, want)
		}
	}
}

// TestAPIJobIDInPath: an escaped id reaches the handler as one segment and
// a 404 names it (issue 13 items 5 and 8).
func TestAPIJobIDInPath(t *testing.T) {
	srv := newTestAPI(t, newFake())
	for _, id := range []protocol.JobID{"a/b", "a?b#c", "j-none"} {
		resp := call(t, srv.URL, "GET", api.JobPath(id), testToken, "")
		var e protocol.Error
		err := json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 404 || len(e.Fields) != 1 || e.Fields[0].Field != "id" || e.Fields[0].Value != string(id) {
			t.Errorf("GET %s: status %d, error %+v (%v), want a 404 naming id %q", api.JobPath(id), resp.StatusCode, e, err, id)
		}
	}
}
