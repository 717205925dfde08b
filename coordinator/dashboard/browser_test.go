package dashboard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium (Debian's chromium, installed by `make
// test`, or $SANAFARM_CHROMIUM). Without it the test is skipped, unless
// SANAFARM_REQUIRE_BROWSER=1 (set by make test) makes that a failure. Page
// errors and console errors are collected.
func browser(t *testing.T) (context.Context, *pageErrors) {
	t.Helper()
	path := os.Getenv("SANAFARM_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("SANAFARM_REQUIRE_BROWSER") == "1" {
			t.Fatal("no chromium found (apt-get install chromium, or set SANAFARM_CHROMIUM)")
		}
		t.Skip("no chromium (apt-get install chromium); make test installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1366, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser and its tab
		t.Fatalf("starting %s: %v", path, err)
	}
	errs := &pageErrors{}
	msgs := chromedp.Console(ctx) // subscribed now: nothing the pages log is lost
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				errs.add(string(m.Type) + ": " + m.Text)
			}
		}
	}()
	return ctx, errs
}

type pageErrors struct {
	mu   sync.Mutex
	list []string
}

func (p *pageErrors) add(s string) { p.mu.Lock(); p.list = append(p.list, s); p.mu.Unlock() }
func (p *pageErrors) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.list) > 0 {
		t.Fatalf("JavaScript errors on the page: %v", p.list)
	}
}

// shot saves a full-page screenshot under dir.
func shot(dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
}

// TestBrowser drives the dashboard in headless Chromium: log in, watch a
// job progress through the in-place refresh, pause and resume it, retry a
// failed job, drain a node — with no JavaScript error anywhere. Screenshots
// of each page land in the test's temp dir (and in
// $SANAFARM_SCREENSHOT_DIR when set: docs/dashboard.png comes from there).
func TestBrowser(t *testing.T) {
	ctx, errs := browser(t)
	srv, f := newServer(t, true)
	dir := t.TempDir()
	if d := os.Getenv("SANAFARM_SCREENSHOT_DIR"); d != "" {
		dir = d
	}
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
		shot(dir, "login"),
		chromedp.SendKeys(chromedp.CSS(`#token`), testToken),
		chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(row)),
		shot(dir, "jobs"),
		chromedp.Click(chromedp.CSS(row+` button[data-verb="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` button[data-verb="resume"]`)),
	)
	if err != nil {
		t.Fatalf("log in and pause: %v", err)
	}
	if !slices.Contains(f.called(), "pause job-1") {
		t.Fatalf("pause from the page reached no API: %v", f.called())
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+` button[data-verb="resume"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-state="done"]`)), // through the 2 s refresh
		chromedp.Click(chromedp.CSS(`tr[data-job="job-2"] button[data-verb="retry"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="job-2"][data-state="running"]`)),
		chromedp.Navigate(srv.URL+"/ui/jobs/job-1"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-shard="3"][data-state="done"]`)),
		shot(dir, "job"),
		chromedp.Navigate(srv.URL+"/ui/nodes"),
		chromedp.Click(chromedp.CSS(`tr[data-node="node-a"] button[data-verb="drain"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-node="node-a"][data-state="draining"]`)),
		shot(dir, "nodes"),
		chromedp.Navigate(srv.URL+"/ui/cluster"),
		chromedp.WaitVisible(chromedp.CSS(`dl.facts`)),
		shot(dir, "cluster"),
	)
	if err != nil {
		t.Fatalf("watch, resume, retry, drain: %v (API calls %v)", err, f.called())
	}
	for _, want := range []string{"resume job-1", "retry job-2", "drain node-a disable=false"} {
		if !slices.Contains(f.called(), want) {
			t.Errorf("the page never called %q: %v", want, f.called())
		}
	}
	errs.check(t)
}
