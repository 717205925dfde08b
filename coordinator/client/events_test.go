package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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
