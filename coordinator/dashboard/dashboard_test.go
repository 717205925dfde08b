package dashboard

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

const testToken = "s3cret-token-value"

func newServer(t *testing.T, auth bool) (*httptest.Server, *fakeFarm) {
	t.Helper()
	f := newFakeFarm(map[bool]string{true: testToken, false: ""}[auth])
	srv := httptest.NewServer(New(Config{Connect: f.as, AuthRequired: auth, Image: fakeImage}))
	t.Cleanup(srv.Close)
	return srv, f
}

// client is a browser-like client: a cookie jar, no automatic redirects.
func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// csrfOf reads the CSRF token a page carries.
func csrfOf(t *testing.T, html string) string {
	t.Helper()
	_, rest, ok := strings.Cut(html, `name="csrf-token" content="`)
	tok, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || tok == "" {
		t.Fatal("page carries no csrf-token meta")
	}
	return tok
}

func TestPagesWithoutAuth(t *testing.T) {
	srv, f := newServer(t, false)
	f.jobs["job-3"] = &protocol.Job{ID: "job-3", State: protocol.JobQueued, Spec: protocol.JobSpec{Name: "<img src=x onerror=alert(1)>", Timeout: "2h"},
		CreatedAt: time.Now(), RunSince: time.Now()}
	f.nodes = append(f.nodes, api.NodeStatus{Info: protocol.NodeInfo{ID: "node-b", Backend: "cpu", Slots: 1, Draining: true}, Live: true,
		Control: &protocol.NodeControl{Drain: true, Auto: true, Reason: "auto-drained: 3 shards in a row failed; last error: <oom>"}},
		api.NodeStatus{Info: protocol.NodeInfo{ID: "node-c", Backend: "cpu", Slots: 1, LeaderUnreachable: true}, Live: true},
		api.NodeStatus{Info: protocol.NodeInfo{ID: "node-d", Backend: "cpu", Slots: 1, LeaderUnreachable: true,
			LeaderUnreachableSince: time.Now().Add(-330 * time.Second).Unix()}, Live: true},
		api.NodeStatus{Info: protocol.NodeInfo{ID: "node-e", Backend: "cuda", Slots: 1, Draining: true,
			DrainReason: "the node must restart: CUDA_ERROR_<ILLEGAL>_ADDRESS"}, Live: true})
	c := client(t)
	for _, c2 := range []struct {
		path string
		want []string
	}{
		{"/ui/", []string{"Jobs", `data-job="job-1"`, "foxes-and-owls", "8 / 32", "running", `data-job="job-2"`,
			"&lt;img src=x onerror=alert(1)&gt;"}},
		{"/ui/?state=failed", []string{`data-job="job-2"`}},
		{"/ui/jobs/job-3", []string{`<dd id="timeout">2h from the run's start: fails `}},
		{"/ui/jobs/job-1", []string{"<code>job-1</code>", `data-shard="0"`, "node-a", "file:///data/out",
			`<div class="failure nofault">#1 on node-a: ` + protocol.ReasonDraining + ` <span class="sub"`, "(not counted)",
			`<div class="failure nofault">#2 on node-c: disk full <span class="sub"`, "(the node's fault, not counted)",
			`<div class="failure">#3 on node-b: out of memory</div>`}},
		{"/ui/nodes", []string{"node-a", "NVIDIA H100 80GB HBM3", "81920 MiB", "cuda ·", `data-node="node-b" data-state="auto-drained"`,
			`data-reason>auto-drained: 3 shards in a row failed; last error: &lt;oom&gt;</div>`, `data-action="/ui/nodes/node-b/undrain"`,
			`data-node="node-c" data-state="up"`, `<div class="sub bad" data-no-leader>no leader answers it</div>`, `data-action="/ui/nodes/node-c/drain"`,
			`<div class="sub bad" data-no-leader>no leader answers it for 5m</div>`,
			`data-node="node-e" data-state="draining"`, `<div class="sub bad" data-drain-reason>the node must restart: CUDA_ERROR_&lt;ILLEGAL&gt;_ADDRESS</div>`}},
		{"/ui/cluster", []string{"leader", "term 3", `data-voter="c3"`, `id="etcd">ok`, `id="nats">CONNECTED`, `id="specs">3.0 MiB of 256 MiB`,
			`id="datadisk">5.0 GiB free (while the leader's is under 1.0 GiB`,
			`<td data-free="5368709120">5.0 GiB</td>`, `<td data-free="536870912" class="error">512 MiB</td>`, `<td data-free="0">—</td>`,
			`<tr data-etcd="https://c1:2379"><td>https://c1:2379</td><td class="error">1.8 GiB (87% of the quota)</td><td>40 MiB</td><td>2.0 GiB</td></tr>`,
			`<tr data-etcd="https://c2:2379"><td>https://c2:2379</td><td>20 MiB (0% of the quota)</td>`,
			`<tr data-etcd="https://c3:2379"><td>https://c3:2379</td><td colspan="3" class="error">context deadline exceeded</td></tr>`}},
	} {
		resp, body := get(t, c, srv.URL+c2.path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c2.path, resp.StatusCode, body)
		}
		for _, w := range c2.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", c2.path, w)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", c2.path, csp)
		}
	}
	if _, body := get(t, c, srv.URL+"/ui/?state=failed"); strings.Contains(body, `data-job="job-1"`) {
		t.Error("state filter shows a running job among failed ones")
	}
	if resp, _ := get(t, c, srv.URL+"/ui/?state=bogus"); resp.StatusCode != 400 {
		t.Errorf("unknown state filter: %d, want 400", resp.StatusCode)
	}
	if resp, _ := get(t, c, srv.URL+"/ui/jobs/nope"); resp.StatusCode != 404 {
		t.Errorf("missing job: %d, want 404", resp.StatusCode)
	}
	_, frag := get(t, c, srv.URL+"/ui/?fragment=1")
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-job="job-1"`) {
		t.Errorf("fragment is not the table alone: %.200s", frag)
	}
}

func TestLoginFlow(t *testing.T) {
	srv, _ := newServer(t, true)
	c := client(t)
	resp, _ := get(t, c, srv.URL+"/ui/nodes")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?next=%2Fui%2Fnodes") {
		t.Fatalf("no session: %d to %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	login := func(token, next string) *http.Response {
		resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {token}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), token) && token != "" {
			t.Errorf("login page echoes the token")
		}
		return resp
	}
	if r := login("wrong", "/ui/nodes"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", r.StatusCode)
	}
	r := login(testToken, "https://evil.example/")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d to %q, want 303 to /ui/ (an outside next is dropped)", r.StatusCode, r.Header.Get("Location"))
	}
	ck := r.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/ui/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui/", ck)
	}
	resp, body := get(t, c, srv.URL+"/ui/")
	if resp.StatusCode != 200 || strings.Contains(body, testToken) {
		t.Fatalf("after login: %d; token in page: %v", resp.StatusCode, strings.Contains(body, testToken))
	}
	if r, _ := post(t, c, srv.URL+"/ui/logout", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if resp, _ := get(t, c, srv.URL+"/ui/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want a redirect to log in", resp.StatusCode)
	}
}

func TestActionsNeedCSRF(t *testing.T) {
	srv, f := newServer(t, false)
	c := client(t)
	_, page := get(t, c, srv.URL+"/ui/")
	tok := csrfOf(t, page)
	for _, tc := range []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		call   string
	}{
		{"no token", "/ui/jobs/job-1/pause", nil, 403, ""},
		{"wrong token", "/ui/jobs/job-1/pause", map[string]string{csrfHeader: "x"}, 403, ""},
		{"other origin", "/ui/jobs/job-1/pause", map[string]string{csrfHeader: tok, "Origin": "https://evil.example"}, 403, ""},
		{"pause", "/ui/jobs/job-1/pause", map[string]string{csrfHeader: tok, "Origin": srv.URL}, 200, "pause job-1"},
		{"priority", "/ui/jobs/job-1/priority?priority=7", map[string]string{csrfHeader: tok}, 200, "priority=7 job-1"},
		{"bad priority", "/ui/jobs/job-1/priority?priority=high", map[string]string{csrfHeader: tok}, 400, ""},
		{"priority beyond int", "/ui/jobs/job-1/priority?priority=99999999999999999999999", map[string]string{csrfHeader: tok}, 400, ""},
		{"empty priority", "/ui/jobs/job-1/priority", map[string]string{csrfHeader: tok}, 400, ""},
		{"hostile node id", "/ui/nodes/%2e%2e%2F%00/drain", map[string]string{csrfHeader: tok}, 404, "drain ../\x00 disable=false"},
		{"retry", "/ui/jobs/job-2/retry", map[string]string{csrfHeader: tok}, 200, "retry job-2"},
		{"missing job", "/ui/jobs/nope/cancel", map[string]string{csrfHeader: tok}, 404, "cancel nope"},
		{"unknown action", "/ui/jobs/job-1/explode", map[string]string{csrfHeader: tok}, 404, ""},
		{"drain", "/ui/nodes/node-a/drain", map[string]string{csrfHeader: tok}, 200, "drain node-a disable=false"},
		{"undrain", "/ui/nodes/node-a/undrain", map[string]string{csrfHeader: tok}, 200, "undrain node-a"},
	} {
		before := len(f.called())
		resp, body := post(t, c, srv.URL+tc.path, tc.hdr)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
		calls := f.called()[before:]
		if tc.call == "" && len(calls) > 0 {
			t.Errorf("%s: the API was called: %v", tc.name, calls)
		}
		if tc.call != "" && !slices.Contains(calls, tc.call) {
			t.Errorf("%s: API calls %v, want %q", tc.name, calls, tc.call)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/nodes": "/ui/nodes", "": "/ui/", "https://evil.example/ui/": "/ui/", "//evil.example/ui/": "/ui/",
		"/ui/\\evil": "/ui/", "/v1/jobs": "/ui/", "/ui/jobs/a?b=c": "/ui/jobs/a?b=c",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPageWeight: the jobs page with its script and style stays under
// 100 KB (issue #14).
func TestPageWeight(t *testing.T) {
	srv, _ := newServer(t, false)
	c := client(t)
	total := 0
	for _, p := range []string{"/ui/", "/ui/static/app.js", "/ui/static/style.css"} {
		resp, body := get(t, c, srv.URL+p)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		total += len(body)
	}
	if total > 100<<10 {
		t.Fatalf("jobs page weighs %d bytes, budget 100 KB", total)
	}
	t.Logf("jobs page: %d bytes", total)
}

func TestSubmitForm(t *testing.T) {
	srv, f := newServer(t, false)
	c := client(t)
	_, page := get(t, c, srv.URL+"/ui/")
	tok := csrfOf(t, page)
	if !strings.Contains(page, `<option>sana-tiny</option>`) {
		t.Error("the model select lacks the presets")
	}
	send := func(form url.Values, csrf string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ui/submit", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if csrf != "" {
			req.Header.Set(csrfHeader, csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := url.Values{"name": {"portraits"}, "model": {"sana-tiny"}, "output": {"/data/out"}, "width": {"256"},
		"prompts": {"a fox\n\n  an owl  \n"}, "images_per_prompt": {"2"}, "timeout": {" 36h "}}
	for _, tc := range []struct {
		name   string
		form   url.Values
		csrf   string
		status int
		want   string
	}{
		{"no csrf", good, "", 403, ""},
		{"bad width", url.Values{"width": {"wide"}, "prompts": {"x"}}, tok, 400, "field width"},
		{"no prompts", url.Values{"output": {"/o"}, "prompts": {"\n \n"}}, tok, 400, "field prompts"},
		{"api refuses", url.Values{"prompts": {"x"}}, tok, 400, "output.url: required"},
		{"ok", good, tok, 200, `"ok":true`},
	} {
		status, body := send(tc.form, tc.csrf)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, status, body, tc.status, tc.want)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var found bool
	for _, j := range f.jobs {
		if j.Spec.Name == "portraits" {
			found = true
			if len(j.Spec.Prompts.Inline) != 2 || j.Spec.Prompts.Inline[1] != "an owl" || j.Spec.Width != 256 || j.Spec.ImagesPerPrompt != 2 ||
				j.Spec.Timeout != "36h" {
				t.Errorf("submitted spec %+v", j.Spec)
			}
		}
	}
	if !found {
		t.Error("the form's job never reached the API")
	}
}

// fakeImage is an 8×8 PNG for sample 0 of job-1's done shards, an error
// otherwise.
func fakeImage(_ context.Context, j protocol.Job, shard, i int) ([]byte, error) {
	if j.ID != "job-1" || shard >= j.ShardsDone || i != 0 {
		return nil, errors.New("no such sample")
	}
	var b bytes.Buffer
	err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)))
	return b.Bytes(), err
}

func TestThumbnails(t *testing.T) {
	srv, _ := newServer(t, false)
	c := client(t)
	_, page := get(t, c, srv.URL+"/ui/jobs/job-1")
	if !strings.Contains(page, `src="/ui/jobs/job-1/images/0/0"`) {
		t.Fatalf("job page shows no thumbnail of its done shard:\n%.400s", page)
	}
	for path, want := range map[string]int{
		"/ui/jobs/job-1/images/0/0": 200, "/ui/jobs/job-1/images/2/0": 404, "/ui/jobs/job-1/images/0/1": 404, "/ui/jobs/job-1/images/99/0": 404,
		"/ui/jobs/job-1/images/x/0": 400, "/ui/jobs/nope/images/0/0": 404, "/ui/jobs/job-1/images/0/-1": 400,
	} {
		resp, body := get(t, c, srv.URL+path)
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == 200 && (resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG")) {
			t.Errorf("%s: %s, not a PNG", path, resp.Header.Get("Content-Type"))
		}
	}
}

// TestEventsRelay: /ui/events hands the stream the session's token as a
// bearer token, passes only the stream's parameters and Last-Event-ID,
// and never the cookie; without a session it is refused.
func TestEventsRelay(t *testing.T) {
	f := newFakeFarm(testToken)
	var got *http.Request
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "id: 7\ndata: {}\n\n")
	})
	srv := httptest.NewServer(New(Config{Connect: f.as, AuthRequired: true, Events: events}))
	defer srv.Close()
	c := client(t)
	if resp, _ := get(t, c, srv.URL+"/ui/events"); resp.StatusCode != http.StatusSeeOther || got != nil {
		t.Fatalf("no session: %d (stream reached: %v)", resp.StatusCode, got != nil)
	}
	if _, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {testToken}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/events?job=j1&node=n2&evil=1", nil)
	req.Header.Set("Last-Event-ID", "41")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got == nil || !strings.Contains(string(b), "id: 7") {
		t.Fatalf("stream not relayed: %d %q", resp.StatusCode, b)
	}
	if got.URL.Path != "/v1/events" || got.URL.Query().Get("job") != "j1" || got.URL.Query().Get("node") != "n2" ||
		got.URL.Query().Has("evil") || got.Header.Get("Authorization") != "Bearer "+testToken ||
		got.Header.Get("Last-Event-ID") != "41" || got.Header.Get("Cookie") != "" {
		t.Fatalf("relayed request %s %v", got.URL, got.Header)
	}
}
