package coordinator

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

// gangCluster is one voter with short gang timings and live nodes ids.
func gangCluster(t *testing.T, ids ...string) (*testCluster, *Server) {
	t.Helper()
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.GangHold, cfg.GangTimeout, cfg.LeaseTTL = 150*time.Millisecond, time.Second, 5*time.Second
	})
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	for _, id := range ids {
		announce(t, c.etcd, id)
	}
	waitFor(t, 5*time.Second, "nodes in the node view", func() bool { return len(srv.Nodes()) == len(ids) })
	return c, srv
}

// announceInfo puts info as its node's announcement under a new 60 s etcd
// lease.
func announceInfo(t *testing.T, etcd *clientv3.Client, info protocol.NodeInfo) {
	t.Helper()
	ctx := context.Background()
	l, err := etcd.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(info)
	if _, err := etcd.Put(ctx, protocol.NodeKey(info.ID), string(b), clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
}

// announce puts a node's key under its own etcd lease (revoked at cleanup).
func announce(t *testing.T, etcd *clientv3.Client, id string) clientv3.LeaseID {
	t.Helper()
	ctx := context.Background()
	l, err := etcd.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Put(ctx, protocol.NodeKey(id), `{"id":"`+id+`","backend":"cpu","slots":1}`, clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	return l.ID
}

func gangReq(id string) protocol.LeaseRequest {
	return protocol.LeaseRequest{Node: protocol.NodeInfo{ID: id, Backend: "cpu", Slots: 1}, Free: 1, Gang: true}
}

// leaseUntil asks as a gang-capable node until the reply is not Pending.
func leaseUntil(ctx context.Context, srv *Server, id string) protocol.LeaseReply {
	for {
		r := srv.Lease(ctx, gangReq(id))
		if !r.Pending || ctx.Err() != nil {
			return r
		}
	}
}

func parallelSpec(plan string, prompts int) protocol.JobSpec {
	s := testSpec(prompts)
	s.Parallel = plan
	return s
}

// TestGangLease: two nodes form the gang of an sp:2 shard, one TaskAssign
// records both; only rank 0's result counts; a rank's failure requeues the
// shard as a whole with attempt+1 and blocklists nobody; node loss of any
// rank fails the attempt.
func TestGangLease(t *testing.T) {
	c, srv := gangCluster(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job, err := srv.SubmitJob(ctx, "j-gang", parallelSpec("sp:2", 4)) // 2 shards
	if err != nil {
		t.Fatal(err)
	}
	if r := srv.Lease(ctx, gangReq("n1")); !r.Pending || len(r.Assignments) != 0 {
		t.Fatalf("n1 alone: %+v, want pending", r)
	}
	old := srv.Lease(ctx, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "old"}, Free: 1})
	if len(old.Assignments) != 0 || old.Pending {
		t.Fatalf("a node without gang support got %+v", old)
	}
	a1, a2 := pair(ctx, srv, "n1", "n2")
	if a1.Rank != 0 || a2.Rank != 1 || a1.Ranks != 2 || a1.Group == "" || a1.Group != a2.Group ||
		a1.Task.TaskKey != a2.Task.TaskKey || a1.Task.Attempt != 1 || a1.Spec.Parallel != "sp:2" {
		t.Fatalf("gang assignments %+v / %+v", a1, a2)
	}
	k := a1.Task.TaskKey
	tk, _ := srv.Store().TaskByKey(k)
	if tk.State != protocol.TaskLeased || tk.Assignee != "n1" || strings.Join(tk.Peers, ",") != "n1,n2" {
		t.Fatalf("task after gang lease: %+v", tk)
	}
	if byNode := srv.Store().LeasesByNode(); len(byNode["n1"]) != 1 || len(byNode["n2"]) != 1 || len(srv.Store().LeasedTasks()) != 1 {
		t.Fatalf("leases by node %v", byNode)
	}
	if ack := srv.Progress(protocol.ProgressReport{TaskKey: k, Node: "n2", Attempt: 1, Done: 1}); ack.Error != nil {
		t.Fatalf("rank 1 progress: %v", ack.Error)
	}
	res := &protocol.ShardInfo{Images: 2}
	if ack := srv.Complete(ctx, protocol.CompleteReport{TaskKey: k, Node: "n2", Attempt: 1, Result: res}); protocol.CodeOf(ack.Error) != protocol.CodeBadRequest {
		t.Fatalf("rank 1 result: %+v, want bad request", ack)
	}
	if ack := srv.Complete(ctx, protocol.CompleteReport{TaskKey: k, Node: "n2", Attempt: 1, Error: "shard: peer lost"}); ack.Error != nil {
		t.Fatalf("rank 1 failure: %v", ack.Error)
	}
	if ack := srv.Complete(ctx, protocol.CompleteReport{TaskKey: k, Node: "n1", Attempt: 1, Result: res}); protocol.CodeOf(ack.Error) != protocol.CodeStaleAttempt {
		t.Fatalf("rank 0 result of the failed attempt: %+v, want stale", ack)
	}
	tk, _ = srv.Store().TaskByKey(k)
	if tk.State != protocol.TaskQueued || tk.Peers != nil || srv.Store().View().FailuresOn(job.ID, "n2") != 0 {
		t.Fatalf("after a rank failed: %+v", tk)
	}
	// The retry is the whole shard, attempt 2, on a gang again; then n3's
	// node loss fails that attempt.
	b3, b2 := pair(ctx, srv, "n3", "n2")
	if b3.Task.TaskKey != k || b3.Task.Attempt != 2 || b3.Rank != 0 || b2.Rank != 1 || b3.Group == a1.Group {
		t.Fatalf("retry %+v / %+v", b3, b2)
	}
	if _, err := c.etcd.Delete(ctx, protocol.NodeKey("n3")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the gang attempt failed by node loss", func() bool {
		tk, _ := srv.Store().TaskByKey(k)
		return tk.State == protocol.TaskQueued && tk.Attempt == 2 && tk.Failures[len(tk.Failures)-1].Reason == "node lost"
	})
}

// pair has nodes x and y ask concurrently until both hold an assignment.
func pair(ctx context.Context, srv *Server, x, y string) (ax, ay protocol.Assignment) {
	return pairReqs(ctx, srv, gangReq(x), gangReq(y))
}

// TestGangExpiry: a gang that cannot fill is released after GangTimeout
// (members get plain empty replies again); with fewer live nodes than the
// degree the job fails with a reason instead of waiting forever.
func TestGangExpiry(t *testing.T) {
	_, srv := gangCluster(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job, err := srv.SubmitJob(ctx, "j-wide", parallelSpec("tp:3", 2))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var r1, r2 protocol.LeaseReply
	wg.Go(func() { r1 = leaseUntil(ctx, srv, "n1") })
	wg.Go(func() { r2 = leaseUntil(ctx, srv, "n2") })
	wg.Wait()
	if len(r1.Assignments)+len(r2.Assignments) != 0 || time.Since(start) < time.Second {
		t.Fatalf("replies %+v %+v after %v, want a release after the gang timeout", r1, r2, time.Since(start))
	}
	if j, _ := srv.Store().JobByID(job.ID); j.State.Terminal() {
		t.Fatalf("job %s with 3 live nodes: %s", j.State, j.Error)
	}
	// Two live nodes: tp:3 can never run.
	if _, err := srv.cfg.Etcd.Delete(ctx, protocol.NodeKey("n3")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n3 gone", func() bool { return len(srv.Nodes()) == 2 })
	leaseUntil(ctx, srv, "n1")
	waitFor(t, 5*time.Second, "the job failed", func() bool {
		j, _ := srv.Store().JobByID(job.ID)
		return j.State == protocol.JobFailed
	})
	j, _ := srv.Store().JobByID(job.ID)
	if !strings.Contains(j.Error, "needs 3 nodes, 2 live") {
		t.Errorf("job error %q", j.Error)
	}
}
