package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestEventsReconnects: the fake server sends two events per connection
// and drops it; the client reconnects with Last-Event-ID and sees every
// event once, in order, with the filter on every request.
func TestEventsReconnects(t *testing.T) {
	var mu sync.Mutex
	var resumes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"unauthorized","message":"missing or wrong bearer token"}`)
			return
		}
		if r.URL.Path != api.PathEvents || r.URL.Query().Get("job") != "j1" {
			t.Errorf("request %s", r.URL)
		}
		mu.Lock()
		resumes = append(resumes, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		var from uint64
		fmt.Sscan(r.Header.Get("Last-Event-ID"), &from)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": stream\n\n")
		for id := from + 1; id <= from+2; id++ {
			fmt.Fprintf(w, "id: %d\ndata: {\"id\":%d,\"type\":\"job\",\"job\":\"j1\"}\n\n", id, id)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []uint64
	for e, err := range New(srv.URL, "tok").Events(ctx, api.EventFilter{Jobs: []protocol.JobID{"j1"}}, nil) {
		if err != nil {
			continue // the dropped connections
		}
		got = append(got, e.ID)
		if len(got) == 6 {
			break
		}
	}
	if !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("events %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(resumes, []string{"", "2", "4"}) {
		t.Fatalf("Last-Event-ID sent %q", resumes)
	}
	// A wrong token ends the stream with the error.
	var errs []error
	for _, err := range New(srv.URL, "bad").Events(ctx, api.EventFilter{}, nil) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || protocol.CodeOf(errs[0]) != protocol.CodeUnauthorized {
		t.Fatalf("with a wrong token: %v", errs)
	}
}

// TestEventsFilterBounded: a filter over api.MaxEventFilterValues values
// in a list is refused here with the coordinator's bad_request (naming the
// list and its count), without a request that could only be refused.
func TestEventsFilterBounded(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	many := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprintf("v%d", i)
		}
		return v
	}
	jobs := make([]protocol.JobID, api.MaxEventFilterValues+1)
	for i, v := range many(len(jobs)) {
		jobs[i] = protocol.JobID(v)
	}
	cases := []struct {
		name, field, value string
		f                  api.EventFilter
	}{
		{"jobs", "job", "65", api.EventFilter{Jobs: jobs}},
		{"nodes", "node", "1000", api.EventFilter{Nodes: many(1000)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var errs []error
			for _, err := range New(srv.URL, "tok").Events(ctx, c.f, nil) {
				errs = append(errs, err)
			}
			var pe *protocol.Error
			if len(errs) != 1 || !errors.As(errs[0], &pe) || pe.Code != protocol.CodeBadRequest ||
				len(pe.Fields) != 1 || pe.Fields[0].Field != c.field || pe.Fields[0].Value != c.value {
				t.Fatalf("errors %v, want one bad_request naming %s = %s", errs, c.field, c.value)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}
