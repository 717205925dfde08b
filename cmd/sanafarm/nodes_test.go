package main

import (
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestNodesStates: the STATE column tells a gone, disabled, auto-drained,
// drained and live node apart, and an auto-drain's reason is printed
// below the table with the command that undoes it, as is why a node
// drains itself to restart.
func TestNodesStates(t *testing.T) {
	reason := "auto-drained: 3 shards in a row failed on this node and then succeeded on others; last error: cuda oom"
	nodes := []api.NodeStatus{
		{Info: protocol.NodeInfo{ID: "n-gone"}},
		{Info: protocol.NodeInfo{ID: "n-disabled", Draining: true}, Live: true, Control: &protocol.NodeControl{Drain: true, Disable: true}},
		{Info: protocol.NodeInfo{ID: "n-auto", Draining: true}, Live: true, Control: &protocol.NodeControl{Drain: true, Auto: true, Reason: reason}},
		{Info: protocol.NodeInfo{ID: "n-drained", Draining: true}, Live: true, Control: &protocol.NodeControl{Drain: true}},
		{Info: protocol.NodeInfo{ID: "n-live"}, Live: true},
		{Info: protocol.NodeInfo{ID: "n-restart", Draining: true, DrainReason: "the node must restart: GPU fault"}, Live: true},
		{Info: protocol.NodeInfo{ID: "n-cut", LeaderUnreachable: true, LeaderUnreachableSince: 1796601600}, Live: true},
	}
	addr := fakeNodeCoordinator(t, nodes).URL
	code, stdout, stderr := sanafarm("nodes", "--addr", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	want := map[string]string{"n-gone": "gone", "n-disabled": "disabled", "n-auto": "auto-drained", "n-drained": "draining", "n-live": "live", "n-cut": "no-leader", "n-restart": "draining"}
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && want[f[0]] != "" {
			if f[1] != want[f[0]] {
				t.Errorf("%s: state %s, want %s", f[0], f[1], want[f[0]])
			}
			delete(want, f[0])
		}
	}
	if len(want) > 0 {
		t.Errorf("rows missing: %v\n%s", want, stdout)
	}
	for _, line := range []string{"n-auto: " + reason + " (sanafarm undrain n-auto when it is fixed)",
		"n-restart: drains and restarts: the node must restart: GPU fault",
		"n-cut: no leader answers its requests since 2026-12-07T00:00:00Z although its NATS connection is up"} {
		if !strings.Contains(stdout, line) {
			t.Errorf("output lacks %q:\n%s", line, stdout)
		}
	}
}
