package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// recorder is an API stub that records each request's raw URI.
type recorder struct {
	mu   sync.Mutex
	uris []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.uris = append(r.uris, req.RequestURI)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if req.Method == http.MethodPost {
		_, _ = w.Write([]byte(`{"id":"x","state":"cancelled"}`))
		return
	}
	_, _ = w.Write([]byte(`{"job":{"id":"x"}}`))
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uris...)
}

// TestJobIDsStayInTheirSegment (issue 13 item 8): a user's job id never
// changes the URL a command calls. Ids that cannot be job ids ('/', '?',
// '#', dot segments) are refused before any request, naming the id; valid
// ids reach exactly /v1/jobs/{id}.
func TestJobIDsStayInTheirSegment(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := New(srv.URL, "t")
	c.Retries = 0
	ctx := context.Background()
	calls := map[string]func(protocol.JobID) error{
		"job":    func(id protocol.JobID) error { _, err := c.Job(ctx, id, true, 0, 5); return err },
		"cancel": func(id protocol.JobID) error { _, err := c.Cancel(ctx, id, "r"); return err },
		"submit": func(id protocol.JobID) error {
			_, err := c.SubmitJobID(ctx, id, protocol.JobSpec{Model: "m"})
			return err
		},
	}
	bad := []protocol.JobID{"a/b", "a?b=c", "a#frag", "..", ".", "../../v1/nodes", "j-1/../../v1/nodes", "a%2Fb", "a b", "/abs"}
	for name, call := range calls {
		for _, id := range bad {
			err := call(id)
			pe, ok := err.(*protocol.Error)
			if !ok || pe.Code != protocol.CodeBadRequest || len(pe.Fields) != 1 || pe.Fields[0].Field != "id" || pe.Fields[0].Value != string(id) {
				t.Errorf("%s %q: err %#v, want bad_request naming id", name, id, err)
			}
		}
	}
	if got := rec.seen(); len(got) != 0 {
		t.Fatalf("invalid ids reached the API: %q", got)
	}
	for _, call := range calls {
		if err := call("j-1.a_b"); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{"/v1/jobs/j-1.a_b?tasks=1&from=0&limit=5": true, "/v1/jobs/j-1.a_b/cancel": true, "/v1/jobs?id=j-1.a_b": true}
	for _, u := range rec.seen() {
		if !want[u] {
			t.Errorf("request %q, want one of %v", u, want)
		}
	}
}

// TestJobPathEscapes: whatever an id holds, it stays one path segment.
func TestJobPathEscapes(t *testing.T) {
	cases := map[protocol.JobID]string{
		"j-1":     "/v1/jobs/j-1",
		"a/b?c#d": "/v1/jobs/a%2Fb%3Fc%23d",
		"a%2F":    "/v1/jobs/a%252F",
		"x y":     "/v1/jobs/x%20y",
	}
	for id, want := range cases {
		if got := api.JobPath(id); got != want {
			t.Errorf("JobPath(%q) = %q, want %q", id, got, want)
		}
	}
	if got := api.CancelPath("a/b"); got != "/v1/jobs/a%2Fb/cancel" {
		t.Errorf("CancelPath = %q", got)
	}
}

// TestNoRedirects: a redirect is an error answer, never followed (a POST
// turned GET, or the token sent on).
func TestNoRedirects(t *testing.T) {
	var followed bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
		}
		http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
	}))
	defer srv.Close()
	c := New(srv.URL, "t")
	c.Retries = 0
	if _, err := c.Cancel(context.Background(), "j-1", ""); err == nil || followed {
		t.Fatalf("err %v, followed %v", err, followed)
	}
}

// TestTasksPages: Tasks reads a job of 2500 shards in pages of
// api.MaxTaskPage.
func TestTasksPages(t *testing.T) {
	const shards = 2500
	var pages int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages++
		from, _ := strconv.Atoi(r.URL.Query().Get("from"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit > api.MaxTaskPage {
			http.Error(w, `{"code":"bad_request","message":"limit"}`, http.StatusBadRequest)
			return
		}
		d := api.JobDetail{Job: protocol.Job{ID: "j-1", Shards: shards}}
		for i := from; i < min(from+limit, shards); i++ {
			d.Tasks = append(d.Tasks, protocol.Task{TaskKey: protocol.TaskKey{Job: "j-1", Shard: i}})
		}
		_ = json.NewEncoder(w).Encode(d)
	}))
	defer srv.Close()
	tasks, err := New(srv.URL, "t").Tasks(context.Background(), "j-1")
	if err != nil || len(tasks) != shards || pages != 3 {
		t.Fatalf("%d tasks in %d pages (%v)", len(tasks), pages, err)
	}
	for i, tk := range tasks {
		if tk.Shard != i {
			t.Fatalf("task %d is shard %d", i, tk.Shard)
		}
	}
}

// TestUnreachable: a coordinator that does not listen is CodeUnavailable,
// with the refused connection findable by errors.Is (the CLI's hint), and
// the message names the URL once.
func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c := New(url, "")
	c.Retries = 0
	_, err := c.Jobs(context.Background(), "")
	if protocol.CodeOf(err) != protocol.CodeUnavailable || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err %v (code %s), want unavailable wrapping ECONNREFUSED", err, protocol.CodeOf(err))
	}
	if n := strings.Count(err.Error(), "/v1/jobs"); n != 1 {
		t.Errorf("%q names the path %d times, want once", err, n)
	}
}
