package browsertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sanafarm/sanafarm/internal/browsertest"
)

// fakeT records what Run logs and where it fails; Fatalf ends the call
// as testing.T's does (here by a panic that runFake recovers). Skip and
// Helper are the real test's.
type fakeT struct {
	*testing.T
	logs, fatals []string
}

type fatal struct{}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	panic(fatal{})
}

func (f *fakeT) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func runFake(t *testing.T, body func(ctx context.Context, errs *browsertest.Errors) error) (f *fakeT) {
	f = &fakeT{T: t}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatal); !ok {
				panic(r)
			}
		}
	}()
	browsertest.Run(f, body)
	return f
}

// crash kills the tab's browser process as a segfault would and returns
// the error of the next call, as a test would see it.
func crash(ctx context.Context) error {
	if err := chromedp.FromContext(ctx).Browser.Process().Signal(syscall.SIGSEGV); err != nil {
		return err
	}
	return chromedp.Do(ctx, chromedp.Navigate("data:text/html,<p>after"), chromedp.WaitVisible(chromedp.CSS("p")))
}

// TestRunRetriesCrashes: a browser process that dies under a call is
// retried on a fresh browser with its output logged, up to three times;
// a failure of the page itself and a JavaScript error fail at once.
func TestRunRetriesCrashes(t *testing.T) {
	page := "data:text/html,<p id=x>hi</p>"
	cases := []struct {
		name       string
		crashes    int    // attempts that crash before one passes
		pageErr    error  // returned by every attempt that does not crash
		script     string // run on the page when set
		wantRuns   int    // attempts made
		wantFatal  string // "" when the test passes
		wantLogged int    // attempts logged as crashed
	}{
		{name: "passes", wantRuns: 1},
		{name: "one crash", crashes: 1, wantRuns: 2, wantLogged: 1},
		{name: "crashes every time", crashes: 3, wantRuns: 3, wantLogged: 2, wantFatal: "browser process exited"},
		{name: "page failure", pageErr: errors.New("no #login on the page"), wantRuns: 1, wantFatal: "no #login"},
		{name: "script error", script: "throw new Error('boom')", wantRuns: 1, wantFatal: "boom"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			f := runFake(t, func(ctx context.Context, _ *browsertest.Errors) error {
				runs++
				if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#x"))); err != nil {
					return err
				}
				if runs <= tc.crashes {
					err := crash(ctx)
					if !browsertest.Crashed(err) {
						t.Errorf("after SIGSEGV: %v, not a crash", err)
					}
					return fmt.Errorf("log in: %w", err)
				}
				if tc.script != "" {
					// thrown outside the poll, then time for its event to arrive
					if err := chromedp.Do(ctx,
						browsertest.Until(`(setTimeout(() => { `+tc.script+` }, 0), window.t0 = Date.now(), true)`),
						browsertest.Until(`Date.now() - window.t0 > 300`),
					); err != nil {
						return err
					}
				}
				return tc.pageErr
			})
			if runs != tc.wantRuns {
				t.Errorf("%d attempts, want %d", runs, tc.wantRuns)
			}
			if len(f.logs) != tc.wantLogged {
				t.Errorf("%d attempts logged, want %d: %q", len(f.logs), tc.wantLogged, f.logs)
			}
			for _, l := range f.logs {
				if !strings.Contains(l, "browser process died") || !strings.Contains(l, "last output") {
					t.Errorf("crash logged as %q", l)
				}
			}
			switch {
			case tc.wantFatal == "" && len(f.fatals) > 0:
				t.Errorf("failed: %q", f.fatals)
			case tc.wantFatal != "" && (len(f.fatals) != 1 || !strings.Contains(f.fatals[0], tc.wantFatal)):
				t.Errorf("failures %q, want one naming %q", f.fatals, tc.wantFatal)
			}
		})
	}
}

// TestCrashed: only an error carrying the process's exit is a crash.
func TestCrashed(t *testing.T) {
	if browsertest.Crashed(errors.New("waiting for #login: context deadline exceeded")) {
		t.Error("a page timeout counted as a crash")
	}
	if browsertest.Crashed(nil) {
		t.Error("nil counted as a crash")
	}
}
