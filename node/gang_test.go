package node

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/shard"
)

func gangAgent(t *testing.T, url, id string) *Agent {
	return &Agent{cfg: Config{ID: id, NATS: embedtest.Conn(t, url), GroupJoinTimeout: 5 * time.Second, PeerTimeout: time.Second},
		log: slog.New(slog.DiscardHandler)}
}

// TestGangOwnConnection: a gang rank runs on a connection of its own,
// under its node's id: the node's control connection closing does not
// touch the gang, and an assignment naming another node as this rank is
// refused.
func TestGangOwnConnection(t *testing.T) {
	url := embedtest.NATS(t, 0)
	agents := []*Agent{gangAgent(t, url, "node-a"), gangAgent(t, url, "node-b")}
	asg := func(rank int) protocol.Assignment {
		return protocol.Assignment{Task: protocol.Task{TaskKey: protocol.TaskKey{Job: "j1", Shard: 0}, Attempt: 1},
			Rank: rank, Ranks: 2, Group: "j1_00000_a1", Peers: []string{"node-a", "node-b"}}
	}
	if _, err := agents[0].joinGroup(t.Context(), asg(1)); err == nil || !strings.Contains(err.Error(), "node-a") {
		t.Fatalf("joining as another node's rank: %v", err)
	}
	ts := joinAll(t, agents, asg)
	agents[0].cfg.NATS.Close()
	if err := allReduce(t, ts); err != nil {
		t.Fatalf("gang after rank 0's control connection closed: %v", err)
	}
}

// joinAll has every agent join its rank's group (closed at cleanup).
func joinAll(t *testing.T, agents []*Agent, asg func(rank int) protocol.Assignment) []shard.Transport {
	t.Helper()
	ts := make([]shard.Transport, len(agents))
	errs := make([]error, len(agents))
	var wg sync.WaitGroup
	for k, a := range agents {
		wg.Go(func() { ts[k], errs[k] = a.joinGroup(t.Context(), asg(k)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		t.Cleanup(func() { tr.Close() })
	}
	return ts
}

// allReduce runs one all-reduce on every rank.
func allReduce(t *testing.T, ts []shard.Transport) error {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for k := range ts {
		wg.Go(func() { errs[k] = ts[k].AllReduce(ctx, []float32{1}) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TestGangAddressedOnPerNodeUsers: the agent passes the assignment's
// Addressed to its transport: on per-node NATS users (which may read only
// gang traffic addressed to them) an addressed gang runs, and one of the
// earlier layout is refused at its subscription.
func TestGangAddressedOnPerNodeUsers(t *testing.T) {
	n, err := embedded.StartNATS(embedded.NATSConfig{Users: embedded.RoleUsers("c", "", map[string]string{"node-a": "pa", "node-b": "pb"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	agents := []*Agent{gangAgent(t, n.UserURL("node-a", "pa"), "node-a"), gangAgent(t, n.UserURL("node-b", "pb"), "node-b")}
	asg := func(rank int, addressed bool) protocol.Assignment {
		return protocol.Assignment{Task: protocol.Task{TaskKey: protocol.TaskKey{Job: "j1", Shard: 0}, Attempt: 1},
			Rank: rank, Ranks: 2, Group: "j1_00000_a1", Peers: []string{"node-a", "node-b"}, Addressed: addressed}
	}
	if _, err := agents[0].joinGroup(t.Context(), asg(0, false)); err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		t.Fatalf("a gang of the earlier layout on per-node users: %v, want a permissions violation", err)
	}
	ts := joinAll(t, agents, func(k int) protocol.Assignment { return asg(k, true) })
	if err := allReduce(t, ts); err != nil {
		t.Fatalf("addressed gang on per-node users: %v", err)
	}
}
