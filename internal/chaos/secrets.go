package chaos

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/storage"
)

// metricsToken is every coordinator's and node's SANAFARM_METRICS_TOKEN.
const metricsToken = "chaos-metrics-token-0123456789abcdef"

// farmSecret is a credential the farm's processes hold, by what it is.
type farmSecret struct{ name, value string }

// farmSecrets are the credentials of the chaos farm: every NATS user's
// password and the secret the nodes' derive from among them.
var farmSecrets = append([]farmSecret{
	{"the API token", apiToken},
	{"the metrics token", metricsToken},
	{"a NATS password", natsPass},
	{"the worker secret", workerSecret},
	{"the S3 secret key", s3test.SecretKey},
}, nodeNATSSecrets()...)

// nodeNATSSecrets are the nodes' NATS passwords.
func nodeNATSSecrets() []farmSecret {
	out := make([]farmSecret, nodeCount)
	for i := range out {
		out[i] = farmSecret{"a NATS password", natsPassword(fmt.Sprintf("n%d", i))}
	}
	return out
}

// findSecrets returns what of farmSecrets text holds, each with the line
// it is on, the secret masked.
func findSecrets(text string) []string {
	var out []string
	for _, s := range farmSecrets {
		i := strings.Index(text, s.value)
		if i < 0 {
			continue
		}
		start := strings.LastIndexByte(text[:i], '\n') + 1
		end := strings.IndexByte(text[i:], '\n')
		if end < 0 {
			end = len(text) - i
		}
		line := strings.ReplaceAll(text[start:i+end], s.value, "<"+s.name+">")
		out = append(out, s.name+": "+line)
	}
	return out
}

// checkLogsClean fails t if a sanafarm process's log holds a credential:
// they never reach logs or errors, whatever fault a scenario made
// (docs/architecture.md §7).
func checkLogsClean(t testing.TB, procs []*Proc) {
	t.Helper()
	for _, p := range procs {
		for _, found := range findSecrets(p.log.Tail(1 << 30)) {
			t.Errorf("%s's log holds %s", p.Name, found)
		}
	}
}

// checkOutputsClean fails t if an object of keys in s holds a credential:
// outputs (provenance, stats, manifests, tars) are handed to other people.
func checkOutputsClean(ctx context.Context, t testing.TB, s storage.Store, keys []string) {
	t.Helper()
	for _, k := range keys {
		rc, err := s.Get(ctx, k)
		if err != nil {
			t.Errorf("reading %s: %v", k, err)
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Errorf("reading %s: %v", k, err)
			continue
		}
		for _, found := range findSecrets(string(b)) {
			t.Errorf("output %s holds %s", k, found)
		}
	}
}
