package coordinator

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestUnheardLeaderHandsOn: a leader whose NATS link works, but which most
// live nodes say they cannot reach, hands the leadership to the next voter
// by id; a minority saying so moves nothing, and neither does a majority
// once the nodes take it back.
func TestUnheardLeaderHandsOn(t *testing.T) {
	c, _ := proxiedCluster(t, 3, MinNATSHandoverAfter)
	first := c.leader(10 * time.Second)
	waitFor(t, 10*time.Second, "every coordinator announcing its NATS link", func() bool { return len(linked(t, c.etcd)) == 3 })
	nodes := func(unreached int) {
		for i := range 3 {
			announceInfo(t, c.etcd, protocol.NodeInfo{ID: fmt.Sprintf("n%d", i), Backend: "cpu", Slots: 1, LeaderUnreachable: i < unreached})
		}
	}
	nodes(1) // a minority
	time.Sleep(3*MinNATSHandoverAfter + time.Second)
	if now := c.leader(time.Second); now != first {
		t.Fatalf("leadership moved from %d to %d with one node of three saying it cannot reach the leader", first, now)
	}
	nodes(2) // most
	waitOtherLeader(t, c, first)
	next := c.leader(5 * time.Second)
	if want := (first + 1) % 3; next != want { // members are c0, c1, c2: the next by id, around
		t.Errorf("leadership went from %d to %d, want the next voter %d", first, next, want)
	}
	nodes(0) // the new leader answers them
	time.Sleep(3*MinNATSHandoverAfter + time.Second)
	if now := c.leader(time.Second); now != next {
		t.Fatalf("leadership moved from %d to %d after the nodes took it back", next, now)
	}
}

// TestMostUnreached: more than half of the live nodes, and at least one.
func TestMostUnreached(t *testing.T) {
	for _, c := range []struct {
		flags []bool
		want  bool
	}{
		{nil, false}, {[]bool{false}, false}, {[]bool{true}, true}, {[]bool{true, false}, false},
		{[]bool{true, true, false}, true}, {[]bool{true, false, false}, false}, {[]bool{true, true, false, false}, false},
	} {
		s := &Server{nodes: newNodeView()}
		for i, f := range c.flags {
			s.nodes.put(fmt.Sprintf("n%d", i), protocol.NodeInfo{ID: fmt.Sprintf("n%d", i), LeaderUnreachable: f}, time.Now())
		}
		if got, _, _ := s.mostUnreached(); got != c.want {
			t.Errorf("%v: %v, want %v", c.flags, got, c.want)
		}
	}
}

// TestTransferLeadership: the leader hands over to the voter named; a
// follower, or an id that names no voter, is refused.
func TestTransferLeadership(t *testing.T) {
	c := startCluster(t, 3, nil)
	first := c.leader(10 * time.Second)
	to := (first + 1) % 3
	if err := c.members[to].srv.TransferLeadership("c0"); err == nil {
		t.Error("a follower transferred the leadership")
	}
	if err := c.members[first].srv.TransferLeadership("c9"); err == nil {
		t.Error("transferred the leadership to no voter")
	}
	if err := c.members[first].srv.TransferLeadership(fmt.Sprintf("c%d", to)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the named voter leading", func() bool { return c.members[to].srv.IsLeader() })
}

func TestUnheardWait(t *testing.T) {
	const h = 20 * time.Second
	led := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		outage time.Time
		want   time.Duration
	}{
		{"not said", time.Time{}, h},
		{"began under this leader", led.Add(time.Second), h},
		{"began as it took office", led, h},
		{"began just before", led.Add(-5 * time.Second), h},
		{"lasted 45 s before", led.Add(-45 * time.Second), 45 * time.Second},
		{"lasted an hour before", led.Add(-time.Hour), maxUnheardFactor * h},
	} {
		if got := unheardWait(h, led, c.outage); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestUnreachedSince: the time by which the needed number of nodes said
// it, from those that say when.
func TestUnreachedSince(t *testing.T) {
	v := newNodeView()
	for i, since := range []int64{300, 100, 0, 200} {
		v.put(fmt.Sprintf("n%d", i), protocol.NodeInfo{ID: fmt.Sprintf("n%d", i), LeaderUnreachable: true, LeaderUnreachableSince: since}, time.Now())
	}
	v.put("n9", protocol.NodeInfo{ID: "n9", LeaderUnreachableSince: 50}, time.Now()) // not flagged: ignored
	// A hostile announcement, as the watch decodes it (Sanitized): a time
	// past year 9999, where time.Unix wraps and would sort first, is none.
	v.put("n8", protocol.NodeInfo{ID: "n8", LeaderUnreachable: true, LeaderUnreachableSince: math.MaxInt64}.Sanitized(), time.Now())
	for need, want := range map[int]int64{1: 100, 2: 200, 3: 300, 4: 0, 0: 0} {
		got := v.unreachedSince(need)
		if want == 0 && !got.IsZero() || want != 0 && got.Unix() != want {
			t.Errorf("need %d: %v, want %d", need, got, want)
		}
	}
}

// TestUnheardLeaderWaitsForOldOutage: when most nodes have said since
// before this leader took office that no leader answers them, the fault
// is likely theirs: the leader waits as long as that had lasted (here the
// bound, 16 × 2 s) instead of handing on after 2 s; once the nodes' spell
// begins under it, it hands on as before.
func TestUnheardLeaderWaitsForOldOutage(t *testing.T) {
	c, _ := proxiedCluster(t, 3, MinNATSHandoverAfter)
	first := c.leader(10 * time.Second)
	waitFor(t, 10*time.Second, "every coordinator announcing its NATS link", func() bool { return len(linked(t, c.etcd)) == 3 })
	nodes := func(since int64) {
		for i := range 3 {
			announceInfo(t, c.etcd, protocol.NodeInfo{ID: fmt.Sprintf("n%d", i), Backend: "cpu", Slots: 1,
				LeaderUnreachable: true, LeaderUnreachableSince: since})
		}
	}
	nodes(time.Now().Add(-time.Hour).Unix())
	for end := time.Now().Add(3*MinNATSHandoverAfter + time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if !c.members[first].srv.IsLeader() {
			t.Fatalf("leadership left %d although the nodes' outage began an hour before it took office", first)
		}
	}
	nodes(time.Now().Unix())
	waitOtherLeader(t, c, first)
}

// TestUnreachedSinceOwnClock: a spell this coordinator saw begin is dated
// by its own clock, so a node clock an hour behind does not make a new
// leader wait for an outage that never was; a node first seen already
// saying it is dated by its own word; a spell that ends and begins again
// is dated anew; a full re-read keeps what it saw.
func TestUnreachedSinceOwnClock(t *testing.T) {
	v := newNodeView()
	t0 := time.Unix(1_000_000, 0)
	v.put("n1", protocol.NodeInfo{ID: "n1"}, t0)
	behind := protocol.NodeInfo{ID: "n1", LeaderUnreachable: true, LeaderUnreachableSince: t0.Add(-time.Hour).Unix()}
	v.put("n1", behind, t0.Add(10*time.Second))
	if got := v.unreachedSince(1); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("a spell seen beginning: %v, want this coordinator's %v", got, t0.Add(10*time.Second))
	}
	v.put("n1", behind, t0.Add(time.Minute)) // announced again, still saying it
	if got := v.unreachedSince(1); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("a re-announcement moved the spell's start to %v", got)
	}
	v.set(map[string]protocol.NodeInfo{"n1": behind, "n2": {ID: "n2", LeaderUnreachable: true, LeaderUnreachableSince: t0.Unix() - 5}})
	if got := v.unreachedSince(1); !got.Equal(time.Unix(t0.Unix()-5, 0)) {
		t.Fatalf("a node first seen saying it (n2): %v, want its own time", got)
	}
	if got := v.unreachedSince(2); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("n1 after a full re-read: %v, want the start seen before it", got)
	}
	v.put("n1", protocol.NodeInfo{ID: "n1"}, t0.Add(2*time.Minute))
	v.put("n1", behind, t0.Add(3*time.Minute))
	if got := v.unreachedSince(2); !got.Equal(t0.Add(3 * time.Minute)) {
		t.Fatalf("a new spell: %v, want %v", got, t0.Add(3*time.Minute))
	}
	v.del("n1", t0)
	if _, ok := v.flagged["n1"]; ok {
		t.Fatal("a gone node keeps its flagged time")
	}
}
