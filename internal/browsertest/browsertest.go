// Package browsertest starts headless Chromium for tests that drive the
// dashboard with chromedp (coordinator/dashboard, internal/testcluster):
// Debian's chromium, installed by `make test`, or $SANAFARM_CHROMIUM.
// Without it a test is skipped, unless SANAFARM_REQUIRE_BROWSER=1 (set by
// make test) makes that a failure. Console errors and uncaught exceptions
// of every page are collected for Errors.Check.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Start returns a chromedp context of a new headless browser tab, closed
// at the end of the test.
func Start(t *testing.T) (context.Context, *Errors) {
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
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser and its tab
		t.Fatalf("starting %s: %v", path, err)
	}
	errs := &Errors{}
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

// Errors are the JavaScript errors the pages reported.
type Errors struct {
	mu   sync.Mutex
	list []string
}

func (e *Errors) add(s string) { e.mu.Lock(); e.list = append(e.list, s); e.mu.Unlock() }

// Check fails the test when any page reported an error.
func (e *Errors) Check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.list) > 0 {
		t.Fatalf("JavaScript errors on the page: %v", e.list)
	}
}

// Shot saves a full-page PNG screenshot as dir/name.png.
func Shot(dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
}

// Until waits until the JavaScript expression is truthy (chromedp.Poll),
// as a step of chromedp.Do.
func Until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr)(ctx, t)
		return err
	})
}

// ImagesLoaded is an Until expression: n or more images match sel and all
// of them loaded with a real width (a broken image has naturalWidth 0).
func ImagesLoaded(sel string, n int) string {
	return fmt.Sprintf(`(() => { const im = [...document.querySelectorAll(%q)]; `+
		`return im.length >= %d && im.every(i => i.complete && i.naturalWidth > 0); })()`, sel, n)
}
