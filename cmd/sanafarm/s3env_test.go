package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/storage"
)

// TestDaemonsRefuseBadS3Env: a node or coordinator started with a bad
// SANAFARM_S3_STALL_TIMEOUT stops at once with a usage error naming the
// variable and value, instead of failing every job that writes to S3.
func TestDaemonsRefuseBadS3Env(t *testing.T) {
	t.Setenv(storage.EnvS3StallTimeout, "soon")
	t.Setenv("SANAFARM_NATS_URL", "")
	const nats = "nats://127.0.0.1:1" // never reached
	for _, args := range [][]string{
		{"node", "--nats", nats, "--metrics-addr", "", "--log-level", "error"},
		{"coordinator", "--data", filepath.Join(t.TempDir(), "raft"), "--raft-bind", "127.0.0.1:0", "--nats", nats, "--log-level", "error"},
	} {
		code, stdout, stderr := sanafarm(args...)
		if want := `SANAFARM_S3_STALL_TIMEOUT="soon"`; code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, want 2 with %q: %s%s", args[0], code, want, stdout, stderr)
		}
	}
}
