package shard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/protocol"
)

// startAuthNATS runs a NATS server that takes one user and password.
func startAuthNATS(t *testing.T, user, pass string) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, Username: user, Password: pass, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// natsGroup starts size ranks from cfg (Rank set per rank).
func natsGroup(t *testing.T, size int, cfg func(k int) NATSConfig) []*NATS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts := make([]*NATS, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for k := range ts {
		wg.Go(func() { ts[k], errs[k] = NewNATS(ctx, cfg(k)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, tr := range ts {
			tr.Close()
		}
	})
	return ts
}

func allReduceOK(t *testing.T, ts []*NATS) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sums, err := onRanks(len(ts), func(k int) ([]float32, error) {
		buf := []float32{float32(k + 1), 10}
		return buf, ts[k].AllReduce(ctx, buf)
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range sums {
		if s[0] != 3 || s[1] != 20 {
			t.Errorf("rank %d: all-reduce %v, want [3 20]", k, s)
		}
	}
}

// TestNATSOwnConn: a rank dials its own connection from the node's
// options (credentials included); the node's connection and the rank's
// are independent, and a rank whose connection drops is lost to the
// others within the peer timeout.
func TestNATSOwnConn(t *testing.T) {
	url := startAuthNATS(t, "farm", "pw-of-the-farm")
	conns := make([]*nats.Conn, 2)
	for k := range conns {
		nc, err := nats.Connect(url, nats.UserInfo("farm", "pw-of-the-farm"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[k] = nc
	}
	ts := natsGroup(t, 2, func(k int) NATSConfig {
		return NATSConfig{Options: &conns[k].Opts, Group: "own", Rank: k, Size: 2, Peers: []string{"node-a", "node-b.x"},
			PeerTimeout: 500 * time.Millisecond}
	})
	if ts[0].nc == conns[0] {
		t.Fatal("the transport uses the node's connection")
	}
	conns[0].Close() // the node's control connection is not the group's
	allReduceOK(t, ts)
	ts[1].nc.Close() // rank 1's gang connection dies
	start := time.Now()
	err := ts[0].AllReduce(context.Background(), []float32{1})
	if !errors.Is(err, ErrPeerLost) {
		t.Fatalf("rank 0 after rank 1's connection dropped: %v, want %v", err, ErrPeerLost)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("peer loss seen after %v > 2 s", took)
	}
	ts[0].Close()
	if conns[1].IsClosed() {
		t.Error("the transport closed the node's connection")
	}
}

// TestNATSPendingLimit: a rank whose handler falls behind fails the group
// with a slow-consumer error once MaxPending bytes queue up, instead of
// buffering without bound.
func TestNATSPendingLimit(t *testing.T) {
	url := startNATS(t, 0)
	ts := natsGroup(t, 2, func(k int) NATSConfig {
		return NATSConfig{URL: url, Group: "pending", Rank: k, Size: 2, MaxPending: 64 << 10}
	})
	flood := connect(t, url)
	ts[0].box.mu.Lock() // stalls rank 0's handler in its first delivery
	chunk := make([]byte, headerSize+16<<10)
	for i := range 64 {
		header{kind: kindData, src: 1, tag: 1 << 4, off: uint64(i) * 16 << 10, total: 64 * 16 << 10}.put(chunk)
		if err := flood.Publish("sanafarm.shard.r1.pending.r0", chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := flood.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	ts[0].box.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := ts[0].AllReduce(ctx, []float32{1})
	if !errors.Is(err, nats.ErrSlowConsumer) {
		t.Fatalf("after %d KiB queued past a 64 KiB limit: %v, want %v", 64*16, err, nats.ErrSlowConsumer)
	}
}

func connect(t *testing.T, url string, o ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, o...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSPerNodeUsers: ranks whose node users may publish only under
// their own ids and read only what is addressed to them
// (protocol.NodePermissions) run an addressed group; a rank whose peers
// list names it as another node is refused by the server, as is a group
// of the earlier layout (its subjects are open to every reader) and a
// third node subscribing to the group's traffic.
func TestNATSPerNodeUsers(t *testing.T) {
	n, err := embedded.StartNATS(embedded.NATSConfig{Users: embedded.RoleUsers("c", "",
		map[string]string{"node-a": "pa", "node-b.x": "pb", "node-c": "pc"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	peers := []string{"node-a", "node-b.x"}
	conns := []*nats.Conn{connect(t, n.UserURL("node-a", "pa")), connect(t, n.UserURL("node-b.x", "pb"))}
	ts := natsGroup(t, 2, func(k int) NATSConfig {
		return NATSConfig{Options: &conns[k].Opts, Group: "users", Rank: k, Size: 2, Peers: peers, Addressed: true}
	})
	allReduceOK(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// node-a's credentials, claiming to be rank 1 (node-b.x).
	_, err = NewNATS(ctx, NATSConfig{Options: &conns[0].Opts, Group: "users2", Rank: 1, Size: 2, Peers: peers, Addressed: true})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		t.Fatalf("joining as another node: %v, want a permissions violation", err)
	}
	_, err = NewNATS(ctx, NATSConfig{Options: &conns[0].Opts, Group: "users3", Rank: 0, Size: 2, Peers: peers})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		t.Fatalf("a group of the earlier layout on per-node users: %v, want a permissions violation", err)
	}
	for _, subj := range []string{"sanafarm.shard.>", "sanafarm.shard.*.users.node-a.>", "sanafarm.shard.node-a.users.*.d"} {
		if err := subscribeAs(t, n.UserURL("node-c", "pc"), subj); err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("node-c subscribing to %s: %v, want a permissions violation", subj, err)
		}
	}
	if err := subscribeAs(t, n.UserURL("node-c", "pc"), protocol.ShardSubscribe("node-c")); err != nil {
		t.Errorf("node-c subscribing to its own gang traffic: %v", err)
	}
}

// subscribeAs subscribes to subj on a fresh connection and returns the
// server's verdict (a refused subscription is reported asynchronously).
func subscribeAs(t *testing.T, url, subj string) error {
	t.Helper()
	refused := make(chan error, 1)
	nc := connect(t, url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case refused <- err:
		default:
		}
	}))
	if _, err := nc.SubscribeSync(subj); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	select {
	case err := <-refused:
		return err
	case <-time.After(300 * time.Millisecond):
		return nil
	}
}

// TestNATSCancelledRankLeaves: a rank aborting because its own work was
// cancelled (its node stopping or killed) is a lost peer to the others,
// not an abort with a reason of theirs.
func TestNATSCancelledRankLeaves(t *testing.T) {
	url := startNATS(t, 0)
	ts := natsGroup(t, 2, func(k int) NATSConfig { return NATSConfig{URL: url, Group: "leave", Rank: k, Size: 2} })
	ts[1].Abort(fmt.Errorf("generate: %w", context.Canceled))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts[0].AllReduce(ctx, []float32{1}); !errors.Is(err, ErrPeerLost) {
		t.Fatalf("rank 0 after rank 1 was cancelled: %v, want %v", err, ErrPeerLost)
	}
}
