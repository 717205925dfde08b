package deploy

import (
	"cmp"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator"
	"github.com/sanafarm/sanafarm/node"
)

// TestPrometheusConfig: the scrape configuration and its alert rules pass
// promtool check config, every sanafarm_ name the rules use is exported,
// and docs/deploy.md shows the rules verbatim. Without promtool only the
// last two run, unless SANAFARM_REQUIRE_PROMTOOL=1 (make test).
func TestPrometheusConfig(t *testing.T) {
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	body := string(rules)
	for strings.HasPrefix(body, "#") { // the header comment is not in the docs
		_, body, _ = strings.Cut(body, "\n")
	}
	docs, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(docs), "```yaml\n"+body+"```") {
		t.Error("docs/deploy.md §11 does not show deploy/prometheus/alerts.yml verbatim")
	}
	families := append(coordinator.MetricFamilies(), node.MetricFamilies()...)
	for _, name := range metricName.FindAllString(body, -1) {
		if !exported(families, name) {
			t.Errorf("alerts.yml uses %s, which no component exports", name)
		}
	}
	path, err := exec.LookPath(cmp.Or(os.Getenv("SANAFARM_PROMTOOL"), "promtool"))
	if err != nil {
		if os.Getenv("SANAFARM_REQUIRE_PROMTOOL") == "1" {
			t.Fatalf("promtool not found (scripts/install-promtool.sh): %v", err)
		}
		t.Skipf("promtool not found (scripts/install-promtool.sh): %v", err)
	}
	if out, err := exec.Command(path, "check", "config", "prometheus/prometheus.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}
