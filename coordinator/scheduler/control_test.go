package scheduler

import (
	"slices"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestPickControl: job and node control as the scheduler sees it — paused
// jobs get nothing, a changed priority reorders jobs, a drained node gets
// nothing, a retried shard is leased as a fresh attempt.
func TestPickControl(t *testing.T) {
	prio := func(p int) *int { return &p }
	cases := []struct {
		name  string
		setup func(s *memState)
		node  protocol.NodeInfo
		want  []string
	}{
		{name: "paused job gets nothing",
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0).job.Paused = true }},
		{name: "paused top priority lets the lower level run",
			setup: func(s *memState) {
				s.add("high", 9, tiny, 5, 0).job.Paused = true
				s.add("low", 0, tiny, 5, 1)
			},
			want: []string{"low/0@1", "low/1@1"}},
		{name: "resumed job runs again",
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0).job.Paused = false },
			want:  []string{"a/0@1", "a/1@1"}},
		{name: "raised priority runs first",
			setup: func(s *memState) {
				s.add("old", 5, tiny, 5, 0)
				s.add("young", 0, tiny, 5, 1).job.PriorityOverride = prio(6)
			},
			want: []string{"young/0@1", "young/1@1"}},
		{name: "lowered priority runs last",
			setup: func(s *memState) {
				s.add("a", 5, tiny, 1, 0).job.PriorityOverride = prio(-1)
				s.add("b", 0, tiny, 1, 1)
			},
			want: []string{"b/0@1", "a/0@1"}},
		{name: "drained node gets nothing", node: protocol.NodeInfo{ID: "n", Draining: true},
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0) }},
		{name: "retried shard is a fresh attempt",
			setup: func(s *memState) { s.add("a", 0, tiny, 1, 0).requeue(2, 0) },
			want:  []string{"a/0@3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemState()
			tc.setup(st)
			node := tc.node
			if node.ID == "" {
				node.ID = "n"
			}
			leases := New(Config{}).Pick(st, protocol.LeaseRequest{Node: node, Free: 2}, t0)
			if got := keys(leases); !slices.Equal(got, tc.want) {
				t.Fatalf("picked %v, want %v", got, tc.want)
			}
			st.commit(t, node.ID, leases)
		})
	}
}

// TestPausedJobNotUnplaceable: a paused job is never failed as stuck,
// whatever the nodes.
func TestPausedJobNotUnplaceable(t *testing.T) {
	st := newMemState()
	j := st.add("a", 0, m4k8, 5, 0)
	j.job.Paused = true
	small := []protocol.NodeInfo{{ID: "small", Backend: "cuda", GPUs: []protocol.GPUInfo{{MemoryTotal: 8 * gib, MemoryFree: 8 * gib}}}}
	if why := New(Config{}).Unplaceable(st, j.job, small); why != "" {
		t.Fatalf("paused job unplaceable: %s", why)
	}
	j.job.Paused = false
	if why := New(Config{}).Unplaceable(st, j.job, small); why == "" {
		t.Fatal("the resumed job fits an 8 GiB GPU")
	}
	if New(Config{}).Eligible(st, protocol.Job{ID: "p", Paused: true}, cpuNode("n")) {
		t.Fatal("paused job eligible")
	}
}
