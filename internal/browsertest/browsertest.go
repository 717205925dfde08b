// Package browsertest starts headless Chromium for tests that drive the
// dashboard with chromedp (coordinator/dashboard, internal/testcluster):
// Debian's chromium, installed by `make test`, or $SANAFARM_CHROMIUM.
// Without it a test is skipped, unless SANAFARM_REQUIRE_BROWSER=1 (set by
// make test) makes that a failure. Console errors and uncaught exceptions
// of every page are collected and fail the test; a crash of the browser
// process itself is retried on a fresh browser (Run).
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// TB is what Run needs of a test: *testing.T, or a fake that checks
// which failures Run retries.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Skip(args ...any)
}

// attempts is how many browsers Run starts before a crash of the browser
// process fails the test: Chromium's browser process has segfaulted under
// CI load (once in some thirty runs, on the first page), which says
// nothing about the dashboard, while a failure of the page must not be
// retried away.
const attempts = 3

// Run starts a headless browser and calls body with a context of its tab;
// a nil return passes when no page reported a JavaScript error. When body
// fails because the browser process died (a crash, not a page fault),
// the attempt is logged with the browser's last output and body runs
// again on a fresh browser, so body must set up what it needs itself
// (servers, clusters: each attempt starts clean). Any other error fails
// the test at once. Body may still call t.Fatal for checks outside the
// browser.
func Run(t TB, body func(ctx context.Context, errs *Errors) error) {
	t.Helper()
	path := chromiumPath(t)
	for i := 1; ; i++ {
		ctx, errs, out, stop, err := launch(path)
		if err == nil {
			err = body(ctx, errs)
		}
		// chromedp cancels a tab whose browser process went away; a call
		// that failed just then may not carry the exit error yet.
		lost := errors.Is(ctx.Err(), context.Canceled)
		stop()
		if err == nil {
			errs.Check(t)
			return
		}
		if !(Crashed(err) || lost) || i == attempts {
			t.Fatalf("%v\nthe browser's last output:\n%s", err, out.String())
		}
		t.Logf("attempt %d of %d: the browser process died (%v); its last output:\n%s", i, attempts, err, out.String())
	}
}

// Crashed says whether err came from the browser process exiting under a
// call (chromedp wraps the process's exit error into the call's error).
func Crashed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}

// chromiumPath finds the browser or skips (fails under
// SANAFARM_REQUIRE_BROWSER=1) the test.
func chromiumPath(t TB) string {
	t.Helper()
	if path := os.Getenv("SANAFARM_CHROMIUM"); path != "" {
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SANAFARM_REQUIRE_BROWSER") == "1" {
		t.Fatalf("no chromium found (apt-get install chromium, or set SANAFARM_CHROMIUM)")
	}
	t.Skip("no chromium (apt-get install chromium); make test installs it")
	return ""
}

// launch starts a browser whose stdout and stderr land in out (the last
// outputTail bytes) and a tab whose context collects the pages' console
// errors; stop ends both, also when starting failed.
func launch(path string) (context.Context, *Errors, *tail, func(), error) {
	out := &tail{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1366, 900), chromedp.CombinedOutput(out))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	stop := func() { cancelTimeout(); cancelCtx(); cancelAlloc() }
	errs := &Errors{}
	if err := chromedp.Do(ctx); err != nil { // starts the browser and its tab
		return ctx, errs, out, stop, fmt.Errorf("starting %s: %w", path, err)
	}
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
	return ctx, errs, out, stop, nil
}

// outputTail bounds what a browser's output keeps: enough for a crash's
// last lines, not a chatty browser's whole run.
const outputTail = 8 << 10

// tail keeps the last outputTail bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - outputTail; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return "(none)"
	}
	return string(w.buf)
}

// Errors are the JavaScript errors the pages reported.
type Errors struct {
	mu   sync.Mutex
	list []string
}

func (e *Errors) add(s string) { e.mu.Lock(); e.list = append(e.list, s); e.mu.Unlock() }

// Check fails the test when any page reported an error.
func (e *Errors) Check(t TB) {
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
