package coordinator

import (
	"context"
	"fmt"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestJobListPagedWithoutPrompts: GET /v1/jobs pages newest first with a
// cursor, leaves the inline prompts out (their count stays), and the
// client's Jobs walks every page back into submission order; the job's own
// detail keeps its prompts.
func TestJobListPagedWithoutPrompts(t *testing.T) {
	b := newFake()
	srv := newTestAPI(t, b)
	c := client.New(srv.URL, testToken)
	ctx := context.Background()
	for i := range 5 {
		if _, err := b.SubmitJob(ctx, protocol.JobID(fmt.Sprintf("j-test-%d", i)), testSpec(3)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.JobsPage(ctx, "", "", 2)
	if err != nil || len(l.Jobs) != 2 || l.Jobs[0].ID != "j-test-4" || l.Next != "j-test-3" {
		t.Fatalf("first page %+v (%v)", l, err)
	}
	for _, j := range l.Jobs {
		if p := j.Spec.Prompts; len(p.Inline) != 0 || p.Count() != 3 {
			t.Fatalf("listed prompts %+v, want none inline and a count of 3", p)
		}
	}
	l, err = c.JobsPage(ctx, "", l.Next, 2)
	if err != nil || len(l.Jobs) != 2 || l.Jobs[0].ID != "j-test-2" || l.Next != "j-test-1" {
		t.Fatalf("second page %+v (%v)", l, err)
	}
	l, err = c.JobsPage(ctx, "", l.Next, 2)
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].ID != "j-test-0" || l.Next != "" {
		t.Fatalf("last page %+v (%v)", l, err)
	}
	all, err := c.Jobs(ctx, "")
	if err != nil || len(all) != 5 || all[0].ID != "j-test-0" || all[4].ID != "j-test-4" {
		t.Fatalf("all jobs %v (%v)", all, err)
	}
	d, err := c.Job(ctx, "j-test-2", false, 0, 0)
	if err != nil || len(d.Job.Spec.Prompts.Inline) != 3 {
		t.Fatalf("detail %+v (%v): the full spec has its prompts", d.Job.Spec.Prompts, err)
	}
	if _, err := c.JobsPage(ctx, "", "j-gone", 2); protocol.CodeOf(err) != protocol.CodeBadRequest {
		t.Fatalf("unknown cursor: %v", err)
	}
}
