// Package metricstest checks a component's /metrics with Prometheus's own
// linter, promtool (Debian's prometheus package; scripts/install-promtool.sh).
package metricstest

import (
	"bytes"
	"cmp"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Promtool runs `promtool check metrics` over an exposition (the body of
// a /metrics response) and fails t on any finding. Without promtool the
// test is skipped ($SANAFARM_PROMTOOL names it, else $PATH finds it), unless SANAFARM_REQUIRE_PROMTOOL=1 (make test sets it
// through scripts/test-deps.sh), where it fails.
func Promtool(t testing.TB, exposition []byte) {
	t.Helper()
	path, err := exec.LookPath(cmp.Or(os.Getenv("SANAFARM_PROMTOOL"), "promtool"))
	if err != nil {
		if os.Getenv("SANAFARM_REQUIRE_PROMTOOL") == "1" {
			t.Fatalf("promtool not found (scripts/install-promtool.sh installs it): %v", err)
		}
		t.Skipf("promtool not found (scripts/install-promtool.sh installs it): %v", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
