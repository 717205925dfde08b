package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// healthOp is one step fed to a nodeHealth: a struck failure of shard on
// node, a completion of it there, or a clear (drain) of node.
type healthOp struct {
	op    string // "fail", "done" or "clear"
	node  string
	shard int
}

func TestNodeHealthSuspects(t *testing.T) {
	fail := func(node string, shard int) healthOp { return healthOp{"fail", node, shard} }
	done := func(node string, shard int) healthOp { return healthOp{"done", node, shard} }
	for _, c := range []struct {
		name string
		keep int
		ops  []healthOp
		want []string // suspects at 3 proven failures
	}{
		{"failures proven elsewhere", 6, []healthOp{fail("bad", 1), fail("bad", 2), fail("bad", 3),
			done("good", 1), done("good", 2), done("good", 3)}, []string{"bad"}},
		{"two proven are not enough", 6, []healthOp{fail("bad", 1), fail("bad", 2), fail("bad", 3),
			done("good", 1), done("good", 2)}, nil},
		{"shards that fail everywhere prove nothing", 6, []healthOp{fail("a", 1), fail("a", 2), fail("a", 3),
			fail("b", 1), fail("b", 2), fail("b", 3)}, nil},
		{"a completion ends the streak", 6, []healthOp{fail("bad", 1), fail("bad", 2), done("bad", 9), fail("bad", 3),
			done("good", 1), done("good", 2), done("good", 3)}, nil},
		{"its own later completion proves nothing", 6, []healthOp{fail("n", 1), fail("n", 2), fail("n", 3),
			done("n", 1), done("good", 2), done("good", 3)}, nil},
		{"a drain clears the streak", 6, []healthOp{fail("bad", 1), fail("bad", 2), fail("bad", 3),
			healthOp{"clear", "bad", 0}, done("good", 1), done("good", 2), done("good", 3)}, nil},
		{"only the newest keep failures count", 3, []healthOp{fail("bad", 1), fail("bad", 2), fail("bad", 3), fail("bad", 4),
			done("good", 1), done("good", 2), done("good", 3)}, nil},
		{"both of two bad nodes", 6, []healthOp{fail("y", 1), fail("x", 2), fail("y", 3), fail("x", 4), fail("y", 5), fail("x", 6),
			done("good", 1), done("good", 2), done("good", 3), done("good", 4), done("good", 5), done("good", 6)}, []string{"x", "y"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newNodeHealth(c.keep)
			at := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
			for i, o := range c.ops {
				k := protocol.TaskKey{Job: "j", Shard: o.shard}
				switch o.op {
				case "fail":
					h.failed(o.node, failedShard{key: k, reason: "cuda error", at: at.Add(time.Duration(i) * time.Second)})
				case "done":
					h.completed(o.node, k)
				case "clear":
					h.clear(o.node)
				}
			}
			var got []string
			for _, s := range h.suspects(3) {
				got = append(got, s.node)
				if s.last != "cuda error" {
					t.Errorf("suspect %s: last reason %q", s.node, s.last)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("suspects %v, want %v", got, c.want)
			}
		})
	}
}

// TestNodeHealthBounded: the nodes tracked and each streak stay bounded,
// and the shard index keeps no shard no streak holds.
func TestNodeHealthBounded(t *testing.T) {
	h := newNodeHealth(2)
	at := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	for i := range maxHealthNodes + 10 {
		node := "n" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		for s := range 3 {
			h.failed(node, failedShard{key: protocol.TaskKey{Job: "j", Shard: i*3 + s}, at: at.Add(time.Duration(i) * time.Second)})
		}
	}
	if len(h.streaks) > maxHealthNodes {
		t.Errorf("%d nodes tracked, at most %d", len(h.streaks), maxHealthNodes)
	}
	for n, s := range h.streaks {
		if len(s) > 2 {
			t.Fatalf("node %s: streak of %d, keep is 2", n, len(s))
		}
	}
	if len(h.failedBy) != 2*len(h.streaks) {
		t.Errorf("%d shards indexed for %d streaks of 2", len(h.failedBy), len(h.streaks))
	}
	if _, ok := h.streaks["naaa"]; ok {
		t.Error("the idlest node was kept")
	}
}

// TestFSMFeedsNodeHealth: the FSM feeds struck failures and completions
// of single-node attempts to nodeHealth; failures without a strike, gang
// attempts and refused (stale) entries do not count.
func TestFSMFeedsNodeHealth(t *testing.T) {
	f := newFSM()
	f.health = newNodeHealth(6)
	at := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	var index uint64
	apply := func(typ protocol.CommandType, payload any) any {
		index++
		return f.Apply(entry(t, index, typ, payload))
	}
	apply(protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(16)}, At: at})
	lease := func(node string, shard, attempt int, peers ...string) {
		apply(protocol.CmdTaskAssign, protocol.TaskAssign{Node: node, Peers: peers, At: at, Leases: []protocol.TaskNext{{
			TaskKey: protocol.TaskKey{Job: "j", Shard: shard}, Attempt: attempt, Deadline: at.Add(time.Minute)}}})
	}
	failAs := func(node string, shard, attempt int, noStrike bool) {
		apply(protocol.CmdTaskFail, protocol.TaskFail{TaskKey: protocol.TaskKey{Job: "j", Shard: shard}, Attempt: attempt,
			Node: node, Reason: "boom", NoStrike: noStrike, At: at})
	}
	lease("bad", 0, 1)
	failAs("", 0, 1, false) // a lease expiry: the assignee's
	lease("bad", 1, 1)
	failAs("bad", 1, 1, true) // node lost: no strike
	lease("bad", 2, 1, "bad", "peer")
	failAs("bad", 2, 1, false) // a gang attempt
	lease("bad", 3, 1)
	failAs("bad", 3, 1, false)
	failAs("bad", 3, 1, false) // stale: refused, not counted twice
	lease("bad", 4, 1)
	failAs("bad", 4, 1, false)
	for _, s := range []int{0, 1, 2, 3, 4} {
		lease("good", s, 2)
		apply(protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: protocol.TaskKey{Job: "j", Shard: s}, Attempt: 2,
			Result: protocol.ShardInfo{Node: "good", Images: 2}, At: at})
	}
	got := f.health.suspects(1)
	if len(got) != 1 || got[0].node != "bad" || got[0].proven != 3 {
		t.Fatalf("suspects %+v, want bad with 3 proven failures (expiry of shard 0, shards 3 and 4)", got)
	}
	apply(protocol.CmdNodeDrain|protocol.IgnoreUnknown, protocol.NodeDrain{Node: "bad", Drain: true, Auto: true, At: at})
	if got := f.health.suspects(1); len(got) != 0 {
		t.Errorf("suspects %+v after the drain", got)
	}
}
