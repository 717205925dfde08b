package coordinator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestLeaderFailover: a 3-voter cluster runs a job with two fake nodes;
// the leader is killed mid-job; a new leader takes over within seconds,
// the job completes, and every shard is completed exactly once.
func TestLeaderFailover(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold = 32; cfg.SnapshotInterval = 100 * time.Millisecond })
	first := c.leader(10 * time.Second)
	follower := (first + 1) % 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Submit through a follower: the write is forwarded to the leader.
	cl := client.New(c.members[follower].srv.URL(), clusterToken)
	var spec = testSpec(80) // 40 shards of 2
	waitFor(t, 10*time.Second, "follower to learn the leader url", func() bool {
		_, err := c.members[follower].srv.LeaderURL(ctx)
		return err == nil
	})
	job, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatalf("submit via follower: %v", err)
	}
	if job.Shards != 40 {
		t.Fatalf("job %+v", job)
	}

	fleet := startFleet(ctx, t, c, "n1", "n2")
	defer fleet.wg.Wait()
	defer cancel()

	live := func() *Server { return c.members[follower].srv }
	waitFor(t, 20*time.Second, "10 shards done", func() bool {
		j, _ := live().Store().JobByID(job.ID)
		return j.ShardsDone >= 10
	})
	killed := time.Now()
	c.stop(first)
	second := c.leader(10 * time.Second)
	t.Logf("leader %s killed; %s leads after %v", c.members[first].srv.ID(), c.members[second].srv.ID(), time.Since(killed))
	if second == first {
		t.Fatal("killed member still leader")
	}
	if d := time.Since(killed); d > 5*time.Second {
		t.Errorf("failover took %v", d)
	}
	waitFor(t, 30*time.Second, "job done", func() bool {
		j, _ := c.members[second].srv.Store().JobByID(job.ID)
		return j.State == protocol.JobDone
	})
	cancel()
	fleet.wg.Wait()

	fleet.checkExactlyOnce(t, c.members[second].srv, job.ID, 40, 80)
	st := c.members[second].srv.Store()
	if st.Stats().Completions != 40 {
		t.Errorf("%d completions applied, want 40", st.Stats().Completions)
	}
}

// TestFencingAndRequeue (one voter): node loss requeues a node's tasks
// with attempt+1, stale progress and completions are refused, duplicate
// completions are idempotent, and an expired lease is requeued.
func TestFencingAndRequeue(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = 500 * time.Millisecond })
	c.serving(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	nc := connectNATS(t, c.natsURL)
	job, err := srv.SubmitJob(ctx, "j-fence", testSpec(6)) // 3 shards
	if err != nil {
		t.Fatal(err)
	}
	// n1 announces itself (bound to an etcd lease) and leases two shards.
	lease, err := c.etcd.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.etcd.Put(ctx, protocol.NodeKey("n1"), `{"id":"n1","backend":"cpu","slots":2}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 in the node view", func() bool { return len(srv.Nodes()) == 1 && srv.Nodes()[0].Live })
	as := leaseN(t, nc, "n1", 2)
	if len(as) != 2 || as[0].Task.Shard != 0 || as[0].Task.Attempt != 1 || as[0].Spec.Model != protocol.TinyPreset {
		t.Fatalf("n1 assignments %+v", as)
	}
	// n1 is lost: its key goes away with its etcd lease.
	if _, err := c.etcd.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1's tasks requeued", func() bool {
		for shard := range 2 {
			tk, _ := srv.Store().TaskByKey(protocol.TaskKey{Job: job.ID, Shard: shard})
			if tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || tk.Failures[0].Reason != "node lost" {
				return false
			}
		}
		return true
	})
	as2 := leaseN(t, nc, "n2", 3)
	if len(as2) != 3 || as2[0].Task.Shard != 0 || as2[0].Task.Attempt != 2 || as2[2].Task.Attempt != 1 {
		t.Fatalf("n2 assignments %+v", as2)
	}
	k0 := as2[0].Task.TaskKey
	var ack protocol.Ack
	mustRequest(t, nc, protocol.SubjectProgress, protocol.ProgressReport{TaskKey: k0, Node: "n1", Attempt: 1, Done: 1}, &ack)
	if ack.Error == nil || ack.Error.Code != protocol.CodeStaleAttempt {
		t.Fatalf("stale progress ack %+v", ack)
	}
	stale := protocol.CompleteReport{TaskKey: k0, Node: "n1", Attempt: 1, Result: &protocol.ShardInfo{Node: "n1", Images: 2}}
	mustRequest(t, nc, protocol.SubjectComplete, stale, &ack)
	if ack.Error == nil || ack.Error.Code != protocol.CodeStaleAttempt {
		t.Fatalf("stale completion ack %+v", ack)
	}
	ack = protocol.Ack{}
	mustRequest(t, nc, protocol.SubjectProgress, protocol.ProgressReport{TaskKey: k0, Node: "n2", Attempt: 2, Done: 1}, &ack)
	if ack.Error != nil || ack.Deadline.IsZero() {
		t.Fatalf("progress ack %+v", ack)
	}
	good := protocol.CompleteReport{TaskKey: k0, Node: "n2", Attempt: 2, Result: &protocol.ShardInfo{Node: "n2", Images: 2}}
	for range 2 { // the second is a duplicate (lost reply): acknowledged again
		ack = protocol.Ack{}
		mustRequest(t, nc, protocol.SubjectComplete, good, &ack)
		if ack.Error != nil {
			t.Fatalf("completion ack %+v", ack)
		}
	}
	if st := srv.Store().Stats(); st.Completions != 1 {
		t.Fatalf("completions %d", st.Completions)
	}
	// n2 never reports on shards 1 and 2: their leases expire and they
	// requeue — while other nodes are heard (n3 polls for work), so the
	// silence is n2's, not the leader's link (nodelink.go).
	pctx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	go poll(pctx, nc, "n3")
	waitFor(t, 10*time.Second, "lease expiry requeue", func() bool {
		t1, _ := srv.Store().TaskByKey(protocol.TaskKey{Job: job.ID, Shard: 1})
		t2, _ := srv.Store().TaskByKey(protocol.TaskKey{Job: job.ID, Shard: 2})
		return t1.State == protocol.TaskQueued && len(t1.Failures) == 2 && t1.Failures[1].Reason == "lease expired" &&
			t2.State == protocol.TaskQueued && len(t2.Failures) == 1
	})
	checkMetrics(t, srv.URL())
}

// poll sends node's lease requests with no free slot every 50 ms until
// ctx ends: a live idle node.
func poll(ctx context.Context, nc *nats.Conn, node string) {
	for ctx.Err() == nil {
		var reply protocol.LeaseReply
		_ = request(ctx, nc, protocol.SubjectLease, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: node, Backend: "cpu", Slots: 1}}, &reply)
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// leaseN asks for free shards as node. A leader subscribes to node traffic
// just after its election, so a request finding no responder yet is sent
// again for a few seconds, as a node's would be (it reached nobody).
func leaseN(t *testing.T, nc *nats.Conn, node string, free int) []protocol.Assignment {
	t.Helper()
	var reply protocol.LeaseReply
	req := protocol.LeaseRequest{Node: protocol.NodeInfo{ID: node, Backend: "cpu", Slots: free}, Free: free}
	err := request(context.Background(), nc, protocol.SubjectLease, req, &reply)
	for end := time.Now().Add(5 * time.Second); errors.Is(err, nats.ErrNoResponders) && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
		err = request(context.Background(), nc, protocol.SubjectLease, req, &reply)
	}
	if err != nil {
		t.Fatalf("%s: %v", protocol.SubjectLease, err)
	}
	if reply.Error != nil {
		t.Fatalf("lease for %s: %v", node, reply.Error)
	}
	return reply.Assignments
}

func mustRequest(t *testing.T, nc *nats.Conn, subject string, in, out any) {
	t.Helper()
	if err := request(context.Background(), nc, subject, in, out); err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
}

func checkMetrics(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"sanafarm_leases_total 5", "sanafarm_completions_total 1", `sanafarm_jobs{state="running"} 1`,
		"sanafarm_task_retries_total 4", "sanafarm_raft_leader 1", "sanafarm_queue_depth"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
}
