package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// raftLinks is the Raft network between test voters: every connection a
// voter dials goes through it (Config.RaftDialer), so a test can cut one
// voter off from the others in both directions and heal it again. A cut
// closes the voter's open connections (as a reset would) and holds new
// dials until the dial times out or the link heals (as dropped SYNs
// would). NATS, etcd and HTTP stay reachable: the partial partition where
// a deposed leader still hears from nodes and clients.
type raftLinks struct {
	mu     sync.Mutex
	addrs  map[string]string // raft address -> voter id
	cut    string            // the isolated voter ("" none)
	healed chan struct{}     // closed when the cut heals
	conns  []raftLink
}

type raftLink struct {
	from, to string
	conn     net.Conn
}

func newRaftLinks() *raftLinks { return &raftLinks{addrs: map[string]string{}} }

// tweak sets cfg's dialer; startCluster calls it for every voter.
func (l *raftLinks) tweak(cfg *Config) {
	l.mu.Lock()
	for _, p := range cfg.Peers {
		l.addrs[p.Addr] = p.ID
	}
	l.mu.Unlock()
	cfg.RaftDialer = linkDialer{links: l, from: cfg.ID}
}

// isolate cuts voter id off from the others.
func (l *raftLinks) isolate(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut, l.healed = id, make(chan struct{})
	for _, c := range l.conns {
		if c.from == id || c.to == id {
			_ = c.conn.Close()
		}
	}
}

// heal restores every link.
func (l *raftLinks) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut != "" {
		close(l.healed)
	}
	l.cut = ""
}

// blocked returns the channel that closes when the link from→to heals,
// or nil when it is up.
func (l *raftLinks) blocked(from, to string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut != "" && (from == l.cut || to == l.cut) {
		return l.healed
	}
	return nil
}

type linkDialer struct {
	links *raftLinks
	from  string
}

func (d linkDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	l := d.links
	l.mu.Lock()
	to := l.addrs[addr]
	l.mu.Unlock()
	if wait := l.blocked(d.from, to); wait != nil {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial %s: partitioned: %w", addr, ctx.Err())
		case <-wait:
		}
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut != "" && (d.from == l.cut || to == l.cut) { // cut while dialling
		_ = c.Close()
		return nil, fmt.Errorf("dial %s: partitioned", addr)
	}
	l.conns = append(l.conns, raftLink{from: d.from, to: to, conn: c})
	return c, nil
}

// TestLeaderPartition: the Raft leader of a 3-voter cluster loses its
// links to the other voters mid-job while it still reaches NATS, etcd and
// its clients. It must step down; the majority elects a new leader and
// finishes the job with every shard completed exactly once; a write sent
// to the deposed leader meanwhile gets an answer, not a hang; after the
// links heal it rejoins as a follower and converges on the same state.
func TestLeaderPartition(t *testing.T) {
	links := newRaftLinks()
	c := startCluster(t, 3, links.tweak)
	first := c.leader(10 * time.Second)
	old := c.members[first].srv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job, err := old.SubmitJob(ctx, "j-partition", testSpec(80)) // 40 shards of 2
	if err != nil {
		t.Fatal(err)
	}
	fleet := startFleet(ctx, t, c, "n1", "n2")
	defer fleet.wg.Wait()
	defer cancel()
	waitFor(t, 20*time.Second, "10 shards done", func() bool {
		j, _ := old.Store().JobByID(job.ID)
		return j.ShardsDone >= 10
	})

	cut := time.Now()
	links.isolate(old.ID())
	waitFor(t, 10*time.Second, "the isolated leader to step down", func() bool { return !old.IsLeader() })
	second := majorityLeader(t, c, first, 10*time.Second)
	t.Logf("%s isolated; stepped down and %s leads after %v", old.ID(), c.members[second].srv.ID(), time.Since(cut))
	writeToDeposed(t, c, first, second)

	waitFor(t, 30*time.Second, "job done on the majority", func() bool {
		j, _ := c.members[second].srv.Store().JobByID(job.ID)
		return j.State == protocol.JobDone
	})
	if old.IsLeader() {
		t.Fatal("the isolated voter leads while cut off")
	}
	links.heal()
	waitFor(t, 20*time.Second, "the healed voter to follow and catch up", func() bool {
		j, _ := old.Store().JobByID(job.ID)
		id, _ := old.Leader()
		return id != "" && j.State == protocol.JobDone
	})
	cancel()
	fleet.wg.Wait()
	lead := c.leader(10 * time.Second)
	for _, m := range c.members {
		fleet.checkExactlyOnce(t, m.srv, job.ID, 40, 80)
	}
	t.Logf("after healing: %s leads", c.members[lead].srv.ID())
}

// majorityLeader waits for a leader among the members other than cut.
func majorityLeader(t *testing.T, c *testCluster, cut int, timeout time.Duration) int {
	t.Helper()
	leader := -1
	waitFor(t, timeout, "a leader among the majority", func() bool {
		for i, m := range c.members {
			if i != cut && m.srv.IsLeader() {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// writeToDeposed submits a job through the cut-off voter's API: it may be
// refused as not-leader or unavailable (once the client's retries are
// spent: the cut-off voter knows no leader to forward to) or forwarded to the real leader (the API and etcd
// still reach it), but it must be answered, and an accepted job must be in
// the majority's log.
func writeToDeposed(t *testing.T, c *testCluster, deposed, leader int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	j, err := client.New(c.members[deposed].srv.URL(), clusterToken).SubmitJob(ctx, testSpec(2))
	var perr *protocol.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		t.Fatalf("a write to the deposed leader hung: %v", err)
	case errors.As(err, &perr) && (perr.Code == protocol.CodeNotLeader || perr.Code == protocol.CodeUnavailable):
		t.Logf("write to the deposed leader refused after %v (the client's retries): %v", time.Since(start), err)
	case err != nil:
		t.Fatalf("write to the deposed leader: %v", err)
	default:
		if _, ok := c.members[leader].srv.Store().JobByID(j.ID); !ok {
			t.Fatalf("write to the deposed leader accepted job %s, which the leader does not have", j.ID)
		}
		t.Logf("write to the deposed leader forwarded: job %s", j.ID)
	}
}

// fleet is a set of fake nodes running until their context ends; acked
// records every acknowledged completion (shard -> attempts).
type fleet struct {
	mu    sync.Mutex
	acked map[int][]int
	wg    sync.WaitGroup
}

// startFleet starts fake nodes ids against c's NATS.
func startFleet(ctx context.Context, t *testing.T, c *testCluster, ids ...string) *fleet {
	f := &fleet{acked: map[int][]int{}}
	for _, id := range ids {
		n := &fakeNode{id: id, nc: connectNATS(t, c.natsURL), work: 15 * time.Millisecond, mu: &f.mu, acked: f.acked}
		f.wg.Add(1)
		go func() { defer f.wg.Done(); n.run(ctx) }()
	}
	return f
}

// checkExactlyOnce asserts the job's shards on srv were each completed
// by exactly the acknowledged attempt, once.
func (f *fleet) checkExactlyOnce(t *testing.T, srv *Server, jobID protocol.JobID, shards, images int) {
	t.Helper()
	st := srv.Store()
	j, _ := st.JobByID(jobID)
	if j.ShardsDone != shards || j.ImagesDone != int64(images) || j.State != protocol.JobDone {
		t.Errorf("%s: job %+v", srv.ID(), j)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tk := range st.TasksByJob(jobID, 0, 0) {
		attempts := map[int]bool{}
		for _, a := range f.acked[tk.Shard] {
			attempts[a] = true
		}
		if tk.State != protocol.TaskDone || tk.Result == nil || len(attempts) != 1 || !attempts[tk.Attempt] {
			t.Errorf("%s: shard %d: state %s attempt %d, acknowledged attempts %v", srv.ID(), tk.Shard, tk.State, tk.Attempt, f.acked[tk.Shard])
		}
	}
}
