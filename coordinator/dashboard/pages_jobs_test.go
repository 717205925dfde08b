package dashboard

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// pagedClient is the fake API with the paged listing, over many jobs.
type pagedClient struct {
	API
	jobs  int
	asked *int // the limit the page was asked with
}

func (p pagedClient) JobsPage(_ context.Context, _ protocol.JobState, _ protocol.JobID, limit int) (api.JobList, error) {
	*p.asked = limit
	var l api.JobList
	for i := p.jobs - 1; i >= 0 && len(l.Jobs) < limit; i-- {
		l.Jobs = append(l.Jobs, protocol.Job{ID: protocol.JobID(fmt.Sprintf("job-%04d", i)), State: protocol.JobDone,
			CreatedAt: time.Now().Add(-time.Duration(p.jobs-i) * time.Minute), Spec: protocol.JobSpec{Model: "sana-600m-512"}})
	}
	if len(l.Jobs) < p.jobs {
		l.Next = l.Jobs[len(l.Jobs)-1].ID
	}
	return l, nil
}

// TestJobsPageShowsNewestWithNote: the jobs page asks for one page of the
// newest jobs and says when there are more.
func TestJobsPageShowsNewestWithNote(t *testing.T) {
	for _, tc := range []struct {
		jobs int
		more bool
	}{{jobsShown + 50, true}, {3, false}} {
		f := newFakeFarm("")
		var asked int
		srv := httptest.NewServer(New(Config{Connect: func(tok string) API {
			return pagedClient{API: f.as(tok), jobs: tc.jobs, asked: &asked}
		}}))
		_, body := get(t, client(t), srv.URL+"/ui/")
		srv.Close()
		if asked != jobsShown {
			t.Fatalf("asked for %d jobs, want %d", asked, jobsShown)
		}
		rows := strings.Count(body, `data-job="job-`)
		if want := min(tc.jobs, jobsShown); rows != want || !strings.Contains(body, fmt.Sprintf(`data-job="job-%04d"`, tc.jobs-1)) {
			t.Fatalf("%d jobs: %d rows listed, want the newest %d", tc.jobs, rows, want)
		}
		if got := strings.Contains(body, `id="more-jobs"`); got != tc.more {
			t.Fatalf("%d jobs: note about more jobs %v, want %v", tc.jobs, got, tc.more)
		}
	}
}
