package scheduler

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

const (
	tiny = protocol.TinyPreset
	m600 = "sana-600m-512"   // 6 GiB
	m1k6 = "sana-1600m-1024" // 12 GiB
	m4k8 = "sana1.5-4800m-1024"
)

// TestPickRules checks each rule of the policy on a small state.
func TestPickRules(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		setup func(s *memState)
		node  protocol.NodeInfo
		free  int
		want  []string
	}{
		{name: "draining node gets nothing", free: 2,
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0) },
			node:  protocol.NodeInfo{ID: "n", Draining: true}},
		{name: "no free slot gets nothing", free: 0,
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0) }},
		{name: "negative free gets nothing", free: -3,
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0) }},
		{name: "no jobs", free: 3, setup: func(*memState) {}},
		{name: "free larger than queued", free: 8,
			setup: func(s *memState) { s.add("a", 0, tiny, 2, 0); s.add("b", 0, tiny, 1, 1) },
			want:  []string{"a/0@1", "b/0@1", "a/1@1"}},
		{name: "priority first", free: 2,
			setup: func(s *memState) { s.add("low", 0, tiny, 5, 0); s.add("high", 5, tiny, 5, 1) },
			want:  []string{"high/0@1", "high/1@1"}},
		{name: "priority beats fair share", free: 1,
			setup: func(s *memState) {
				s.add("low", 0, tiny, 5, 0)
				s.add("high", 1, tiny, 50, 1).leaseN(20, "x")
			},
			want: []string{"high/20@1"}},
		{name: "lower priority fills slots the top level cannot", free: 4,
			setup: func(s *memState) { s.add("low", -1, tiny, 5, 0); s.add("high", 3, tiny, 2, 1) },
			want:  []string{"high/0@1", "high/1@1", "low/0@1", "low/1@1"}},
		{name: "top level without queued tasks is skipped", free: 1,
			setup: func(s *memState) { s.add("low", 0, tiny, 5, 0); s.add("high", 9, tiny, 2, 1).leaseN(2, "x") },
			want:  []string{"low/0@1"}},
		{name: "top level ineligible here is skipped", free: 1, node: gpuNode("n", 8),
			setup: func(s *memState) { s.add("low", 0, m600, 5, 0); s.add("high", 9, m4k8, 2, 1) },
			want:  []string{"low/0@1"}},
		{name: "fair share: fewest leased first, counting this call's picks", free: 5,
			setup: func(s *memState) {
				s.add("a", 0, tiny, 20, 0).leaseN(5, "x")
				s.add("b", 0, tiny, 20, 1).leaseN(2, "x")
				s.add("c", 0, tiny, 20, 2).leaseN(3, "x")
			},
			// b:2→3 ties c:3 (b older) → b:4, c:4 → b:5 c:5 a:5 → a (oldest).
			want: []string{"b/2@1", "b/3@1", "c/3@1", "b/4@1", "c/4@1"}},
		{name: "ties: older job, then smaller id", free: 3,
			setup: func(s *memState) { s.add("z", 0, tiny, 5, 0); s.add("b", 0, tiny, 5, 7); s.add("a", 0, tiny, 5, 7) },
			want:  []string{"z/0@1", "a/0@1", "b/0@1"}},
		{name: "affinity breaks ties toward the resident model", free: 1,
			node:  protocol.NodeInfo{ID: "n", Models: []string{m1k6}},
			setup: func(s *memState) { s.add("old", 0, m600, 5, 0); s.add("res", 0, m1k6, 5, 1) },
			want:  []string{"res/0@1"}},
		{name: "affinity matches a preset's repo id", free: 1,
			node:  protocol.NodeInfo{ID: "n", Models: []string{"Efficient-Large-Model/Sana_1600M_1024px_BF16_diffusers"}},
			setup: func(s *memState) { s.add("old", 0, m600, 5, 0); s.add("res", 0, m1k6, 5, 1) },
			want:  []string{"res/0@1"}},
		{name: "affinity never beats a lower leased count", free: 3,
			node: protocol.NodeInfo{ID: "n", Models: []string{m1k6}},
			setup: func(s *memState) {
				s.add("other", 0, m600, 5, 0).leaseN(1, "x")
				s.add("res", 0, m1k6, 9, 1).leaseN(2, "x")
			},
			// other:1 < res:2 → other; then 2=2 → res (resident); 2<3 → other.
			want: []string{"other/1@1", "res/2@1", "other/2@1"}},
		{name: "gpu memory: too big is skipped", free: 2, node: gpuNode("n", 8),
			setup: func(s *memState) { s.add("big", 0, m1k6, 5, 0); s.add("small", 0, m600, 5, 1) },
			want:  []string{"small/0@1", "small/1@1"}},
		{name: "gpu memory: any gpu with room", free: 1, node: gpuNode("n", 2, 30),
			setup: func(s *memState) { s.add("big", 0, m4k8, 5, 0) },
			want:  []string{"big/0@1"}},
		{name: "gpu memory: resident model needs no room", free: 1,
			node:  func() protocol.NodeInfo { n := gpuNode("n", 1); n.Models = []string{m4k8}; return n }(),
			setup: func(s *memState) { s.add("big", 0, m4k8, 5, 0) },
			want:  []string{"big/0@1"}},
		{name: "gpu memory: sana-tiny fits anywhere", free: 1, node: gpuNode("n", 0),
			setup: func(s *memState) { s.add("t", 0, tiny, 5, 0) },
			want:  []string{"t/0@1"}},
		{name: "cpu node takes any model", free: 1, node: cpuNode("n"),
			setup: func(s *memState) { s.add("huge", 0, "org/Sana_4.8B_4Kpx", 5, 0) },
			want:  []string{"huge/0@1"}},
		{name: "blocklisted job is skipped", free: 2,
			setup: func(s *memState) {
				s.add("bad", 0, tiny, 5, 0).failures["n"] = 2
				s.add("ok", 0, tiny, 5, 1).failures["n"] = 1
			},
			want: []string{"ok/0@1", "ok/1@1"}},
		{name: "blocklist is per node", free: 1,
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0).failures["other"] = 9 },
			want:  []string{"a/0@1"}},
		{name: "blocklist threshold from config", free: 1, cfg: Config{BlocklistAfter: 3},
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0).failures["n"] = 2 },
			want:  []string{"a/0@1"}},
		{name: "negative threshold disables the blocklist", free: 1, cfg: Config{BlocklistAfter: -1},
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0).failures["n"] = 100 },
			want:  []string{"a/0@1"}},
		{name: "retries first in shard order, attempt+1", free: 3,
			setup: func(s *memState) { s.add("a", 0, tiny, 5, 0).requeue(2, 1, 0) },
			want:  []string{"a/0@3", "a/1@3", "a/2@1"}},
		{name: "terminal job is ignored", free: 1,
			setup: func(s *memState) {
				s.add("done", 9, tiny, 5, 0).job.State = protocol.JobCancelled
				s.add("a", 0, tiny, 5, 1)
			},
			want: []string{"a/0@1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemState()
			tc.setup(st)
			node := tc.node
			if node.ID == "" {
				node.ID = "n"
			}
			// terminalToo: terminal jobs are ignored even if a State lists them.
			got := keys(New(tc.cfg).Pick(terminalToo{st}, protocol.LeaseRequest{Node: node, Free: tc.free}, t0))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("picked %v, want %v", got, tc.want)
			}
		})
	}
}

// terminalToo is a State that also lists terminal jobs as active.
type terminalToo struct{ *memState }

func (s terminalToo) ActiveJobs() []protocol.Job {
	out := make([]protocol.Job, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.job
	}
	return out
}

func TestPickLeaseValues(t *testing.T) {
	st := newMemState()
	st.add("a", 0, tiny, 5, 0).requeue(4, 0)
	now := t0.Add(90 * time.Minute)
	for _, tc := range []struct {
		cfg Config
		ttl time.Duration
	}{{Config{}, DefaultLeaseTTL}, {Config{LeaseTTL: 30 * time.Second}, 30 * time.Second}} {
		got := New(tc.cfg).Pick(st, protocol.LeaseRequest{Node: cpuNode("n"), Free: 2}, now)
		want := []protocol.TaskNext{
			{TaskKey: protocol.TaskKey{Job: "a", Shard: 0}, Attempt: 5, Deadline: now.Add(tc.ttl)},
			{TaskKey: protocol.TaskKey{Job: "a", Shard: 1}, Attempt: 1, Deadline: now.Add(tc.ttl)},
		}
		if !slices.Equal(got, want) {
			t.Errorf("ttl %v: got %+v, want %+v", tc.ttl, got, want)
		}
	}
	if c := New(Config{}).Config(); c.BlocklistAfter != DefaultBlocklistAfter || c.LeaseTTL != DefaultLeaseTTL {
		t.Errorf("defaults: %+v", c)
	}
}

// TestPickFairShareRepeated: three equal jobs served by repeated single
// picks stay within one task of each other, and a late job catches up.
func TestPickFairShareRepeated(t *testing.T) {
	st := newMemState()
	st.add("a", 0, tiny, 100, 0)
	st.add("b", 0, tiny, 100, 1)
	s := New(Config{})
	for i := range 30 {
		st.commit(t, "n", s.Pick(st, protocol.LeaseRequest{Node: cpuNode("n"), Free: 1}, t0))
		if i == 9 {
			st.add("c", 0, tiny, 100, 2) // arrives with 0 leased vs 5 and 5
		}
	}
	got := []int{len(st.byID["a"].leased), len(st.byID["b"].leased), len(st.byID["c"].leased)}
	if !slices.Equal(got, []int{10, 10, 10}) {
		t.Fatalf("leased per job %v, want 10 each", got)
	}
}

// TestPickDeterministic: the job order of ActiveJobs does not change the
// result.
func TestPickDeterministic(t *testing.T) {
	st := newMemState()
	models := []string{tiny, m600, m1k6, m4k8}
	for i := range 40 {
		j := st.add(string(rune('a'+i%26))+string(rune('a'+i/26)), i%3, models[i%4], 10, i%5)
		j.leaseN(i%4, "x")
		j.failures["n"] = i % 7 / 5 * 2
	}
	node := gpuNode("n", 7, 13)
	node.Models = []string{m600}
	req := protocol.LeaseRequest{Node: node, Free: 12}
	want := keys(New(Config{}).Pick(st, req, t0))
	if len(want) != 12 {
		t.Fatalf("picked %d tasks, want 12", len(want))
	}
	for seed := range uint64(20) {
		st.shuffle = rand.New(rand.NewPCG(seed, 1))
		if got := keys(New(Config{}).Pick(st, req, t0)); !slices.Equal(got, want) {
			t.Fatalf("shuffle %d: %v, want %v", seed, got, want)
		}
	}
}

// TestPickCost: a Pick over many jobs reads only a few queues, with small
// limits.
func TestPickCost(t *testing.T) {
	st := newMemState()
	for i := range 1000 {
		st.add(jobName(i), i%2, tiny, 10000, i)
	}
	got := New(Config{}).Pick(st, protocol.LeaseRequest{Node: cpuNode("n"), Free: 4}, t0)
	if len(got) != 4 {
		t.Fatalf("picked %d, want 4", len(got))
	}
	if st.queuedCalls > 4 || st.queuedReturned > 16 {
		t.Errorf("QueuedTasks: %d calls returning %d tasks; want ≤ 4 calls, ≤ 16 tasks", st.queuedCalls, st.queuedReturned)
	}
	if st.leasedCalls > 500 {
		t.Errorf("LeasedCount called %d times; want only the top level's 500 jobs", st.leasedCalls)
	}
}

func TestEligible(t *testing.T) {
	st := newMemState()
	big := st.add("big", 0, m4k8, 5, 0)
	big.failures["bad"] = 2
	s := New(Config{})
	for _, tc := range []struct {
		node protocol.NodeInfo
		want bool
	}{
		{cpuNode("cpu"), true},
		{gpuNode("small", 8), false},
		{gpuNode("large", 8, 40), true},
		{gpuNode("bad", 80), false},
		{protocol.NodeInfo{ID: "drain", Draining: true}, false},
	} {
		if got := s.Eligible(st, big.job, tc.node); got != tc.want {
			t.Errorf("node %s: Eligible = %v, want %v", tc.node.ID, got, tc.want)
		}
	}
	big.job.State = protocol.JobDone
	if s.Eligible(st, big.job, cpuNode("cpu")) {
		t.Error("a terminal job is eligible")
	}
}

func jobName(i int) string {
	return "j-" + string(rune('a'+i/676%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
}
