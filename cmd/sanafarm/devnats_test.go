package main

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestDevNATSUsers: sanafarm dev's NATS takes only the farm's users, and
// the node URL for joining nodes is in a 0600 file, not on stdout.
func TestDevNATSUsers(t *testing.T) {
	d, err := startDevNATS(0, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if nc, err := nats.Connect(d.URL()); err == nil {
		nc.Close()
		t.Fatal("dev NATS accepts clients without credentials")
	}
	fi, err := os.Stat(d.nodeURLFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node URL file: %v, mode %v", err, fi.Mode())
	}
	b, _ := os.ReadFile(d.nodeURLFile)
	for _, u := range []string{strings.TrimSpace(string(b)), d.coordURL} {
		nc, err := connectNATS(u, "test", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	nc, err := connectNodeNATS(d.nodeURL, "dev-cpu0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !strings.HasPrefix(nc.NewRespInbox(), "_INBOX.dev-cpu0.") {
		t.Errorf("node inbox %s", nc.NewRespInbox())
	}
}
