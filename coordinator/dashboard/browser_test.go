package dashboard

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sanafarm/sanafarm/internal/browsertest"
)

// TestBrowser drives the dashboard in headless Chromium: log in, watch a
// job progress through the in-place refresh, pause and resume it, retry a
// failed job, drain a node — with no JavaScript error anywhere. Screenshots
// of each page land in the test's temp dir (and in
// $SANAFARM_SCREENSHOT_DIR when set: docs/dashboard.png comes from there).
func TestBrowser(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("SANAFARM_SCREENSHOT_DIR"); d != "" {
		dir = d
	}
	browsertest.Run(t, func(ctx context.Context, _ *browsertest.Errors) error {
		return browseDashboard(t, ctx, dir)
	})
}

// browseDashboard is one attempt of TestBrowser on a fresh server.
func browseDashboard(t *testing.T, ctx context.Context, dir string) error {
	srv, f := newServer(t, true)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the farm makes progress while the page watches
		tick := time.NewTicker(700 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				f.progress()
			}
		}
	}()
	row := `tr[data-job="job-1"]`
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		browsertest.Shot(dir, "login"),
		chromedp.SendKeys(chromedp.CSS(`#token`), testToken),
		chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(row)),
		browsertest.Shot(dir, "jobs"),
		chromedp.Click(chromedp.CSS(row+` button[data-verb="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` button[data-verb="resume"]`)),
	)
	if err != nil {
		return fmt.Errorf("log in and pause: %w", err)
	}
	if !slices.Contains(f.called(), "pause job-1") {
		t.Fatalf("pause from the page reached no API: %v", f.called())
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+` button[data-verb="resume"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-state="done"]`)), // through the 2 s refresh
		chromedp.Click(chromedp.CSS(`tr[data-job="job-2"] button[data-verb="retry"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="job-2"][data-state="running"]`)),
		chromedp.Click(chromedp.CSS(`#submit summary`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "from-the-page"),
		chromedp.SendKeys(chromedp.CSS(`#f-output`), "/data/out/page"),
		chromedp.SendKeys(chromedp.CSS(`#f-prompts`), "a fox\nan owl"),
		browsertest.Shot(dir, "submit"),
		chromedp.Click(chromedp.CSS(`#f-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`dl.facts`)), // the new job's page
		chromedp.Navigate(srv.URL+"/ui/jobs/job-1"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-shard="3"][data-state="done"]`)),
		browsertest.Until(browsertest.ImagesLoaded("img[data-thumb]", 4)),
		browsertest.Shot(dir, "job"),
		chromedp.Navigate(srv.URL+"/ui/nodes"),
		chromedp.Click(chromedp.CSS(`tr[data-node="node-a"] button[data-verb="drain"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-node="node-a"][data-state="draining"]`)),
		browsertest.Until(`document.querySelectorAll("svg.spark polyline.util").length == 1`),
		browsertest.Shot(dir, "nodes"),
		chromedp.Navigate(srv.URL+"/ui/cluster"),
		chromedp.WaitVisible(chromedp.CSS(`dl.facts`)),
		browsertest.Shot(dir, "cluster"),
	)
	if err != nil {
		return fmt.Errorf("watch, resume, retry, drain: %w (API calls %v)", err, f.called())
	}
	for _, want := range []string{"resume job-1", "retry job-2", "submit from-the-page", "drain node-a disable=false"} {
		if !slices.Contains(f.called(), want) {
			t.Errorf("the page never called %q: %v", want, f.called())
		}
	}
	return nil
}
