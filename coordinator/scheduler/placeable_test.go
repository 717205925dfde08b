package scheduler

import (
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestUnplaceable: a job with queued tasks is unplaceable (the coordinator
// fails it) when no live, non-draining node may run it — blocklisted on
// every one, or its model larger than every GPU — and a gang job when
// fewer than its degree may. No live node at all means wait, and busy GPU
// memory (free < need but total >= need) is not a reason.
func TestUnplaceable(t *testing.T) {
	busy := gpuNode("busy", 1) // 80 GiB total, 1 GiB free
	small := protocol.NodeInfo{ID: "small", Backend: "cuda",
		GPUs: []protocol.GPUInfo{{MemoryTotal: 8 * gib, MemoryFree: 8 * gib}}}
	cases := []struct {
		name     string
		model    string
		parallel string
		failures map[string]int
		live     []protocol.NodeInfo
		want     string // substring of the reason; "" = placeable
	}{
		{name: "no live nodes: wait", failures: map[string]int{"a": 5}},
		{name: "only draining nodes: wait", live: []protocol.NodeInfo{{ID: "a", Draining: true}}},
		{name: "one node still eligible", failures: map[string]int{"a": 2},
			live: []protocol.NodeInfo{cpuNode("a"), cpuNode("b")}},
		{name: "blocklisted on every live node", failures: map[string]int{"a": 2, "b": 3},
			live: []protocol.NodeInfo{cpuNode("a"), cpuNode("b"), {ID: "c", Draining: true}},
			want: "no live node may run it (a: blocklisted after 2 failed attempts; b: blocklisted after 3 failed attempts)"},
		{name: "blocklist on a gone node does not count", failures: map[string]int{"gone": 2},
			live: []protocol.NodeInfo{cpuNode("a")}},
		{name: "busy GPU is not a reason", model: m4k8, live: []protocol.NodeInfo{busy}},
		{name: "model larger than every GPU", model: m4k8, live: []protocol.NodeInfo{small},
			want: "small: model sana1.5-4800m-1024 needs about 24 GiB, its largest GPU has 8 GiB"},
		{name: "resident model fits", model: m600, live: []protocol.NodeInfo{{ID: "r", GPUs: small.GPUs, Models: []string{m600}}}},
		{name: "gang with enough nodes", parallel: "tp:2", failures: map[string]int{"a": 2},
			live: []protocol.NodeInfo{cpuNode("a"), cpuNode("b"), cpuNode("c")}},
		{name: "gang short of nodes", parallel: "tp:2", failures: map[string]int{"a": 2},
			live: []protocol.NodeInfo{cpuNode("a"), cpuNode("b")},
			want: "parallel tp:2 needs 2 nodes, 2 live, 1 of them may run it (a: blocklisted"},
		{name: "gang larger than the farm", parallel: "tp:3", live: []protocol.NodeInfo{cpuNode("a"), cpuNode("b")},
			want: "parallel tp:3 needs 3 nodes, 2 live, 2 of them may run it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newMemState()
			model := c.model
			if model == "" {
				model = tiny
			}
			j := st.add("j", 0, model, 4, 0)
			j.job.Spec.Parallel = c.parallel
			j.failures = c.failures
			if j.failures == nil {
				j.failures = map[string]int{}
			}
			got := New(Config{}).Unplaceable(st, j.job, c.live)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Fatalf("Unplaceable = %q, want %q", got, c.want)
			}
		})
	}
}

// TestUnplaceableBounded: the reason names at most a few nodes however
// many are live.
func TestUnplaceableBounded(t *testing.T) {
	st := newMemState()
	j := st.add("j", 0, tiny, 4, 0)
	var live []protocol.NodeInfo
	for i := range 1000 {
		n := cpuNode(jobName(i))
		j.failures[n.ID] = 2
		live = append(live, n)
	}
	got := New(Config{}).Unplaceable(st, j.job, live)
	if !strings.Contains(got, "and 995 more") || len(got) > 600 {
		t.Fatalf("reason (%d bytes): %q", len(got), got)
	}
}
