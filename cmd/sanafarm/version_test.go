package main

import (
	"runtime"
	"strings"
	"testing"
)

// TestVersion: version and --version print the same three lines: the
// version nodes announce (NodeInfo.Version), the Go version and platform,
// and the compiled-in backends.
func TestVersion(t *testing.T) {
	want := "version: " + buildVersion() + "\n" +
		"go: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n" +
		"backends: " + strings.Join(backendNames(), ", ") + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		code, stdout, stderr := sanafarm(args...)
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("sanafarm %s: exit %d, stdout %q, stderr %q; want 0, %q", strings.Join(args, " "), code, stdout, stderr, want)
		}
	}
	if !strings.HasPrefix(strings.Join(backendNames(), ","), "cpu") {
		t.Errorf("backends %v: cpu is always compiled in", backendNames())
	}
}
