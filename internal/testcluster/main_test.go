package testcluster_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines running our code outlive
// the tests (clusters stop everything they start at cleanup).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := ourGoroutines(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of sanafarm outlived the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// ourGoroutines waits up to d for goroutines whose stacks run sanafarm
// code (other than this check) to end, and returns those left.
func ourGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/sanafarm/sanafarm/") && !strings.Contains(g, "ourGoroutines") &&
				!strings.Contains(g, "testing.(*M)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
