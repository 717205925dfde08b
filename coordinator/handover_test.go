package coordinator

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/protocol"
)

// proxiedCluster starts n voters, each reaching NATS through its own
// proxy (proxies[i] is member i's), with a 1 s lease TTL.
func proxiedCluster(t *testing.T, n int, handoverAfter time.Duration) (*testCluster, []*embedtest.Proxy) {
	var proxies []*embedtest.Proxy
	c := startCluster(t, n, func(cfg *Config) {
		cfg.LeaseTTL, cfg.NATSHandoverAfter = time.Second, handoverAfter
		u, err := url.Parse(cfg.NATS.ConnectedUrl())
		if err != nil {
			t.Fatal(err)
		}
		p := embedtest.StartProxy(t, u.Host)
		nc, err := nats.Connect("nats://"+p.Addr(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		cfg.NATS = nc
		proxies = append(proxies, p)
	})
	return c, proxies
}

// linked lists the coordinators announcing a NATS link.
func linked(t *testing.T, etcd *clientv3.Client) map[string]bool {
	resp, err := etcd.Get(context.Background(), protocol.NATSLinkPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key[len(protocol.NATSLinkPrefix):])] = true
	}
	return out
}

// TestLeaderCutFromNATSHandsOver: a leader whose NATS link fails while
// the other voters reach NATS hands its leadership to one of them, and the
// farm serves nodes again — whether its connection drops (cut: a
// partition that resets it) or stays up carrying nothing (frozen: a
// black-holed route, which the client would notice only minutes later).
func TestLeaderCutFromNATSHandsOver(t *testing.T) {
	for _, mode := range []string{"cut", "frozen"} {
		t.Run(mode, func(t *testing.T) { leaderCutFromNATS(t, mode == "frozen") })
	}
}

func leaderCutFromNATS(t *testing.T, frozen bool) {
	c, proxies := proxiedCluster(t, 3, MinNATSHandoverAfter)
	first := c.leader(10 * time.Second)
	waitFor(t, 10*time.Second, "every coordinator announcing its NATS link", func() bool { return len(linked(t, c.etcd)) == 3 })
	if frozen {
		proxies[first].Freeze()
		t.Cleanup(proxies[first].Thaw)
	} else {
		proxies[first].Cut()
	}
	waitFor(t, 5*time.Second, "the cut leader withdrawing its announcement", func() bool {
		return !linked(t, c.etcd)[c.members[first].srv.cfg.ID]
	})
	waitOtherLeader(t, c, first)
	next := c.leader(5 * time.Second)
	if next == first {
		t.Fatalf("the cut leader leads again")
	}
	if _, err := c.members[next].srv.SubmitJob(context.Background(), "j-handover", testSpec(4)); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, c.natsURL)
	if got := leaseN(t, nc, "n1", 1); len(got) != 1 {
		t.Fatalf("a node's lease request after the handover got %d shards, want 1", len(got))
	}
}

// TestHandoverOff: with NATSHandoverAfter negative (--nats-handover-after
// 0) a leader cut off from NATS stays leader however long the cut lasts,
// though other voters announce their links.
func TestHandoverOff(t *testing.T) {
	c, proxies := proxiedCluster(t, 3, -1)
	first := c.leader(10 * time.Second)
	waitFor(t, 10*time.Second, "every coordinator announcing its NATS link", func() bool { return len(linked(t, c.etcd)) == 3 })
	proxies[first].Cut()
	defer proxies[first].Restore()
	waitFor(t, 5*time.Second, "the cut leader withdrawing its announcement", func() bool {
		return !linked(t, c.etcd)[c.members[first].srv.cfg.ID]
	})
	time.Sleep(3*MinNATSHandoverAfter + handoverConfirm)
	if now := c.leader(time.Second); now != first {
		t.Fatalf("leadership moved from %d to %d with the handover off", first, now)
	}
}

// TestNATSOutageKeepsLeader: when NATS is gone for every coordinator,
// nobody announces a link, and the leader stays (no elections for an
// outage nobody can help) — also with forged keys that name no other
// voter.
func TestNATSOutageKeepsLeader(t *testing.T) {
	c, proxies := proxiedCluster(t, 3, MinNATSHandoverAfter)
	first := c.leader(10 * time.Second)
	waitFor(t, 10*time.Second, "every coordinator announcing its NATS link", func() bool { return len(linked(t, c.etcd)) == 3 })
	for _, p := range proxies {
		p.Cut()
	}
	waitFor(t, 5*time.Second, "every announcement withdrawn", func() bool { return len(linked(t, c.etcd)) == 0 })
	// Keys that name no other voter count for nothing: a server outside
	// the Raft configuration, the leader itself, an empty id.
	for _, id := range []string{"c9", c.members[first].srv.cfg.ID, ""} {
		if _, err := c.etcd.Put(context.Background(), protocol.NATSLinkKey(id), "forged"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * MinNATSHandoverAfter)
	if now := c.leader(time.Second); now != first {
		t.Fatalf("leadership moved from %d to %d during an outage of NATS for everyone", first, now)
	}
	for _, p := range proxies {
		p.Restore()
	}
	waitFor(t, 10*time.Second, "the links announced again", func() bool { return len(linked(t, c.etcd)) >= 3 })
}

// TestLeaderWithClosedNATSHandsOver: a voter whose NATS connection is
// closed for good cannot subscribe to node traffic when it is elected; it
// must not stay leader with nobody answering the nodes, but hand over.
func TestLeaderWithClosedNATSHandsOver(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		if cfg.ID == "c0" {
			cfg.NATS.Close()
		}
	})
	l := c.leader(10 * time.Second)
	if l != 0 {
		r := c.members[l].srv.getRaft()
		if err := r.LeadershipTransferToServer("c0", raft.ServerAddress(c.members[0].srv.RaftAddr())).Error(); err != nil {
			t.Fatalf("moving the leadership to c0: %v", err)
		}
	}
	waitFor(t, 10*time.Second, "c0 elected, then another voter leading", func() bool {
		return !c.members[0].srv.IsLeader() && (c.members[1].srv.IsLeader() || c.members[2].srv.IsLeader())
	})
	nc := connectNATS(t, c.natsURL)
	next := c.leader(5 * time.Second)
	if _, err := c.members[next].srv.SubmitJob(context.Background(), "j-closed", testSpec(2)); err != nil {
		t.Fatal(err)
	}
	if got := leaseN(t, nc, "n1", 1); len(got) != 1 { // retried while no leader listens yet
		t.Fatalf("a node's lease request got %d shards, want 1", len(got))
	}
}

func TestPickLinked(t *testing.T) {
	servers := []raft.Server{{ID: "c2", Suffrage: raft.Voter, Address: "a2"}, {ID: "c0", Suffrage: raft.Voter, Address: "a0"},
		{ID: "c1", Suffrage: raft.Voter, Address: "a1"}, {ID: "c3", Suffrage: raft.Nonvoter, Address: "a3"}}
	cases := []struct {
		name   string
		linked []string
		want   string // "" none
	}{
		{"nobody", nil, ""},
		{"only self", []string{"c0"}, ""},
		{"only a non-voter", []string{"c3"}, ""},
		{"only strangers", []string{"c9", "", "c0x"}, ""},
		{"one voter", []string{"c2", "c9"}, "c2"},
		{"the first by id", []string{"c2", "c1", "c0"}, "c1"},
	}
	for _, c := range cases {
		linked := map[string]bool{}
		for _, id := range c.linked {
			linked[id] = true
		}
		srv, ok := pickLinked(servers, "c0", linked)
		if string(srv.ID) != c.want || ok != (c.want != "") {
			t.Errorf("%s: picked %q (%v), want %q", c.name, srv.ID, ok, c.want)
		}
		if ok && string(srv.Address) != "a"+c.want[1:] {
			t.Errorf("%s: address %q of %s", c.name, srv.Address, srv.ID)
		}
	}
	// From another voter the pick goes on around by id, so leaders that
	// hand over in turn try every voter.
	all := map[string]bool{"c0": true, "c1": true, "c2": true, "c3": true}
	for self, want := range map[string]string{"c0": "c1", "c1": "c2", "c2": "c0", "c15": "c2", "c9": "c0"} {
		if srv, ok := pickLinked(servers, self, all); !ok || string(srv.ID) != want {
			t.Errorf("from %s: picked %q (%v), want %s", self, srv.ID, ok, want)
		}
	}
}

// waitOtherLeader waits until a member other than first leads.
func waitOtherLeader(t *testing.T, c *testCluster, first int) {
	t.Helper()
	waitFor(t, 20*time.Second, "another voter leading", func() bool {
		for i, m := range c.members {
			if i != first && m.srv.IsLeader() {
				return true
			}
		}
		return false
	})
}
