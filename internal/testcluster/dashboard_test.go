package testcluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sanafarm/sanafarm/internal/browsertest"
	"github.com/sanafarm/sanafarm/internal/testcluster"
)

// TestDashboardInBrowser: the dashboard of a follower (3 voters, one real
// sana-tiny node) in headless Chromium — log in with the API token, watch
// a job run to done through the event stream, see its shards and
// thumbnails, pause and resume another from the page, drain
// the node from the nodes page — with no JavaScript error; the drain is
// in the replicated state afterwards.
func TestDashboardInBrowser(t *testing.T) {
	browsertest.Run(t, func(bctx context.Context, _ *browsertest.Errors) error {
		return browseCluster(t, bctx)
	})
}

// browseCluster is one attempt of TestDashboardInBrowser on a fresh
// cluster: a retry after a browser crash starts from nothing.
func browseCluster(t *testing.T, bctx context.Context) error {
	const token = "dashboard-token"
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 1, Token: token})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lead, url := c.LeaderIndex(), ""
	for i := range 3 {
		if i != lead {
			url = c.Coordinator(i).URL()
			break
		}
	}
	dir := t.TempDir()
	// Logged in and live on the event stream before the job exists: the
	// page polls only every 30 s while live, so the job appearing and
	// finishing within the test's time comes through events.
	err := chromedp.Do(bctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-live="events"]`)),
	)
	if err != nil {
		return fmt.Errorf("log in at %s: %w", url, err)
	}
	job, err := c.Client().SubmitJob(ctx, tinyJob(filepath.Join(c.OutputDir, "dash"), 6, 1, 2))
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	row := fmt.Sprintf(`tr[data-job="%s"]`, job.ID)
	err = chromedp.Do(bctx,
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-state="done"]`)),
		browsertest.Shot(dir, "jobs"),
		chromedp.Func(func(context.Context, *chromedp.Target) error { // every shard published
			waitFor(t, 30*time.Second, "the job manifest", func() bool {
				j, ok := c.Leader().Store().JobByID(job.ID)
				return ok && !j.ManifestAt.IsZero()
			})
			return nil
		}),
		chromedp.Navigate(url+"/ui/jobs/"+string(job.ID)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-shard="2"][data-state="done"]`)),
		browsertest.Until(browsertest.ImagesLoaded("img[data-thumb]", 3)), // real sana-tiny PNGs from the output
		chromedp.WaitVisible(chromedp.CSS(`#manifest-link`)),
		browsertest.Until(`document.querySelectorAll('a[href*="/stats/"]').length == 3`),
		chromedp.Navigate(url+"/"),
	)
	if err != nil {
		return fmt.Errorf("dashboard at %s: %w", url, err)
	}
	if err := pauseAndResume(t, ctx, bctx, c, url); err != nil {
		return err
	}
	err = chromedp.Do(bctx,
		chromedp.Navigate(url+"/ui/nodes"),
		chromedp.Click(chromedp.CSS(`button[data-verb="drain"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-state="draining"]`)),
		browsertest.Shot(dir, "nodes"),
		chromedp.Navigate(url+"/ui/cluster"),
		browsertest.Until(`document.querySelectorAll("tr[data-voter]").length == 3`),
		// Every voter's data disk, as it published it in etcd.
		browsertest.Until(`document.querySelectorAll("td[data-free]:not([data-free='0'])").length == 3`),
		chromedp.WaitVisible(chromedp.CSS(`#etcd.ok`)),
		chromedp.WaitVisible(chromedp.CSS(`#nats.ok`)),
		browsertest.Shot(dir, "cluster"),
	)
	if err != nil {
		return fmt.Errorf("dashboard at %s: %w", url, err)
	}
	nodes, err := c.Client().Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Control == nil || !nodes[0].Control.Drain {
		t.Fatalf("after drain from the page: nodes %+v, %v", nodes, err)
	}
	return nil
}

// pauseAndResume pauses a longer job from its row on the jobs page: once
// its running shard is done no shard is leased and the count stands
// still; resume from the page, and it finishes. The browser's errors are
// returned (a crash is retried), the cluster's fail the test.
func pauseAndResume(t *testing.T, ctx, bctx context.Context, c *testcluster.Cluster, url string) error {
	t.Helper()
	job, err := c.Client().SubmitJob(ctx, tinyJob(filepath.Join(c.OutputDir, "dash-pause"), 12, 2, 2))
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	row := fmt.Sprintf(`tr[data-job="%s"]`, job.ID)
	if err := chromedp.Do(bctx,
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.Click(chromedp.CSS(row+` button[data-verb="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` button[data-verb="resume"]`)),
	); err != nil {
		return fmt.Errorf("pausing from the page: %w", err)
	}
	var done int
	waitFor(t, 30*time.Second, "the paused job's running shard to end", func() bool {
		d, err := c.Client().Job(ctx, job.ID, false, 0, 0)
		done = d.Job.ShardsDone
		return err == nil && d.Job.Paused && d.Counts.Leased == 0
	})
	time.Sleep(time.Second) // idle nodes poll every 100 ms: a lease would show by now
	d, err := c.Client().Job(ctx, job.ID, false, 0, 0)
	if err != nil || d.Job.ShardsDone != done || d.Counts.Leased != 0 || d.Job.ShardsDone == d.Job.Shards {
		t.Fatalf("paused job moved on: %d of %d shards done (was %d), %d leased, %v", d.Job.ShardsDone, d.Job.Shards, done, d.Counts.Leased, err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(row+` button[data-verb="resume"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-state="done"]`)),
	); err != nil {
		return fmt.Errorf("resuming from the page: %w", err)
	}
	return nil
}
