package embedded

import "testing"

// TestEtcdCompacts: the embedded etcd keeps an hour of history, so a dev
// farm left running does not grow etcd's database into its quota (every
// node announcement is a revision).
func TestEtcdCompacts(t *testing.T) {
	e, err := StartEtcd(t.Context(), EtcdConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if c := e.e.Config(); c.AutoCompactionMode != "periodic" || c.AutoCompactionRetention != "1h" {
		t.Errorf("auto-compaction %q %q, want periodic 1h", c.AutoCompactionMode, c.AutoCompactionRetention)
	}
}
