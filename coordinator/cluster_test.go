package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/protocol"
)

// Integration harness: real Raft over loopback TCP, an embedded NATS
// server and an embedded etcd, and fake nodes that speak the NATS protocol.

func testLogger() *slog.Logger {
	if os.Getenv("SANAFARM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startEtcd, startNATS and connectNATS: the embedded servers (embedtest).
func startEtcd(t testing.TB) *clientv3.Client { return embedtest.Etcd(t) }

func startNATS(t testing.TB) string { return embedtest.NATS(t, 0) }

func connectNATS(t testing.TB, u string) *nats.Conn { return embedtest.Conn(t, u) }

type member struct {
	srv    *Server
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

type testCluster struct {
	t       testing.TB
	members []*member
	etcd    *clientv3.Client
	natsURL string
}

const clusterToken = "tok"

// startCluster bootstraps n voters whose listeners are bound first so that
// every voter knows every address.
func startCluster(t testing.TB, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, etcd: startEtcd(t), natsURL: startNATS(t)}
	var lns []net.Listener
	var peers []Peer
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		peers = append(peers, Peer{ID: fmt.Sprintf("c%d", i), Addr: ln.Addr().String()})
	}
	for i := range n {
		nc := connectNATS(t, c.natsURL)
		cfg := Config{ID: peers[i].ID, DataDir: t.TempDir(), RaftListener: lns[i], Bootstrap: true, Peers: peers,
			NATS: nc, Etcd: c.etcd, Token: clusterToken, LeaseTTL: 2 * time.Second,
			ProgressInterval: 50 * time.Millisecond, Logger: testLogger().With("id", peers[i].ID),
			MinDataFree: -1} // a CI disk may be nearly full; TestDataDiskFloor sets its own
		if tweak != nil {
			tweak(&cfg)
		}
		srv, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &member{srv: srv, nc: nc, cancel: cancel, done: make(chan error, 1)}
		go func() { m.done <- srv.Run(ctx) }()
		c.members = append(c.members, m)
	}
	t.Cleanup(func() {
		for i := range c.members {
			c.stop(i)
		}
	})
	return c
}

// stop shuts a member down (its Raft, API and NATS connection).
func (c *testCluster) stop(i int) {
	m := c.members[i]
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	if err := <-m.done; err != nil {
		c.t.Errorf("member %d: %v", i, err)
	}
	m.nc.Close()
}

// leader polls until exactly one live member is leader.
func (c *testCluster) leader(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, m := range c.members {
			if m.cancel != nil && m.srv.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", timeout)
	return -1
}

// serving waits for a leader that answers node traffic: it subscribes
// after its election's barrier, so a request sent as soon as leader
// returns can find no responders.
func (c *testCluster) serving(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, m := range c.members {
			if m.cancel != nil && m.srv.IsLeader() && m.srv.serving.Load() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader serving nodes within %v", timeout)
	return -1
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// request sends a NATS request and decodes the reply.
func request(ctx context.Context, nc *nats.Conn, subject string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		return err
	}
	return json.Unmarshal(msg.Data, out)
}

// fakeNode leases tasks over NATS and completes them, retrying through
// leader changes. acked records every acknowledged completion.
type fakeNode struct {
	id    string
	nc    *nats.Conn
	work  time.Duration
	mu    *sync.Mutex
	acked map[int][]int // shard -> attempts acknowledged
}

func (n *fakeNode) run(ctx context.Context) {
	for ctx.Err() == nil {
		var reply protocol.LeaseReply
		err := request(ctx, n.nc, protocol.SubjectLease,
			protocol.LeaseRequest{Node: protocol.NodeInfo{ID: n.id, Backend: "cpu", Slots: 2}, Free: 2}, &reply)
		if err != nil || reply.Error != nil || len(reply.Assignments) == 0 {
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		for _, a := range reply.Assignments {
			n.execute(ctx, a)
		}
	}
}

func (n *fakeNode) execute(ctx context.Context, a protocol.Assignment) {
	sleepCtx(ctx, n.work)
	deadline := a.Deadline
	var ack protocol.Ack
	_ = request(ctx, n.nc, protocol.SubjectProgress, protocol.ProgressReport{TaskKey: a.Task.TaskKey, Node: n.id,
		Attempt: a.Task.Attempt, Done: 1}, &ack)
	if ack.Error == nil && ack.Deadline.After(deadline) {
		deadline = ack.Deadline
	}
	rep := protocol.CompleteReport{TaskKey: a.Task.TaskKey, Node: n.id, Attempt: a.Task.Attempt,
		Result: &protocol.ShardInfo{Node: n.id, Images: int(a.Task.End - a.Task.Start)}}
	if n.complete(ctx, rep, deadline) {
		n.mu.Lock()
		n.acked[a.Task.Shard] = append(n.acked[a.Task.Shard], a.Task.Attempt)
		n.mu.Unlock()
	}
}

// fakeCompleteFloor is the real agent's least time to get a completion
// through: node.Config.RequestTimeout's default (node/task.go, complete).
const fakeCompleteFloor = 5 * time.Second

// complete sends rep the way the real agent does (node/task.go, complete):
// a lost reply, a leader failing over or shutting down mid-commit is
// retried until acknowledged or the lease deadline (at least
// fakeCompleteFloor from now) passes, even after ctx stops the lease
// loop, since the leader may have committed it; only a fenced or
// malformed report ends it early. It reports whether the leader
// acknowledged.
func (n *fakeNode) complete(ctx context.Context, rep protocol.CompleteReport, deadline time.Time) bool {
	giveUp := deadline
	if floor := time.Now().Add(fakeCompleteFloor); giveUp.Before(floor) {
		giveUp = floor
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), giveUp)
	defer cancel()
	for cctx.Err() == nil {
		var ack protocol.Ack
		err := request(cctx, n.nc, protocol.SubjectComplete, rep, &ack)
		if err == nil && ack.Error == nil {
			return true
		}
		if ack.Error != nil && !retryableCode(ack.Error.Code) {
			return false // stale, not found, conflict: the shard is not ours
		}
		sleepCtx(cctx, 20*time.Millisecond)
	}
	return false
}

// retryableCode mirrors the real agent's retryable (node/rpc.go): codes
// a later request to a (new) leader may succeed with. CodeInternal is
// one: a leader shut down mid-commit answers it (raft.ErrRaftShutdown).
func retryableCode(c protocol.Code) bool {
	return c == protocol.CodeNotLeader || c == protocol.CodeUnavailable || c == protocol.CodeInternal
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
