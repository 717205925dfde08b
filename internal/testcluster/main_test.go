package testcluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive the tests (clusters
// stop everything they start at cleanup). Only goroutines of third-party
// libraries that outlive a clean shutdown by design are ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// raft's NetworkTransport serves each inbound connection until the
		// peer closes it, and Close leaves the pooled outbound connections
		// of a stopped transport open: their peers' handlers stay blocked
		// in a read until the process exits.
		goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
	)
}
