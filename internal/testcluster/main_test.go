package testcluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive the tests (clusters
// stop everything they start at cleanup).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
