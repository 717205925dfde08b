package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
)

// checkEtcdConfig loads a rendered etcd.yaml the way the etcd of our
// go.mod reads its --config-file (the private address filled in as at
// boot), so a key etcd does not take, or takes otherwise, fails here.
func checkEtcdConfig(t *testing.T, rendered string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "etcd.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(rendered, "@PRIVATE_IP@", "10.10.0.5")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := embed.ConfigFromFile(path)
	if err != nil {
		t.Fatalf("etcd does not read the rendered etcd.yaml: %v", err)
	}
	if cfg.BcryptCost != 4 {
		t.Errorf("etcd reads bcrypt-cost %d, want 4", cfg.BcryptCost)
	}
	if cfg.AutoCompactionMode != "periodic" || cfg.AutoCompactionRetention != "1h" {
		t.Errorf("etcd reads auto-compaction %q %q, want periodic 1h (else its history grows until the quota stops writes)",
			cfg.AutoCompactionMode, cfg.AutoCompactionRetention)
	}
	if !cfg.ClientTLSInfo.ClientCertAuth || cfg.Name == "" {
		t.Errorf("etcd reads client-cert-auth %v, name %q", cfg.ClientTLSInfo.ClientCertAuth, cfg.Name)
	}
}
