package testcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestControlPlaneBench measures the control plane with the fixture
// executor (fixed delay, no model) and prints one "cp:" line per metric:
// lease+complete throughput through 3 voters, 64 nodes' throughput as a
// fraction of the ideal, leader-kill to scheduling-resumed time, and
// node-kill to requeue time. It takes about a minute; run it with
// SANAFARM_CPBENCH=1 (make bench-cp).
func TestControlPlaneBench(t *testing.T) {
	if os.Getenv("SANAFARM_CPBENCH") == "" {
		t.Skip("control-plane benchmark: set SANAFARM_CPBENCH=1 (make bench-cp) to run it")
	}
	for _, slots := range []int{1, 4} {
		t.Run(fmt.Sprintf("lease-complete-%d", slots), func(t *testing.T) { benchLeaseComplete(t, slots) })
	}
	for _, d := range []time.Duration{500 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprintf("64-nodes-%v", d), func(t *testing.T) { benchNodes(t, d) })
	}
	t.Run("leader-kill", benchLeaderKill)
	t.Run("node-kill", benchNodeKill)
}

// fixtureJob is a job of shards single-image shards that no node reads
// prompts for (the fixture executor ignores them).
func fixtureJob(shards int) protocol.JobSpec {
	return protocol.JobSpec{Model: protocol.TinyPreset, ShardSize: 1,
		Prompts: protocol.PromptSource{URL: "file:///fixture/prompts.txt", Rows: int64(shards)},
		Output:  protocol.OutputSpec{URL: "file:///fixture/out"}}
}

func fixtureNodes(f *testcluster.Fixture) func(int, string) node.Executor {
	return func(int, string) node.Executor { return f }
}

func natsRequest(ctx context.Context, nc *nats.Conn, subject string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	msg, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		return err
	}
	return json.Unmarshal(msg.Data, out)
}

// benchLeaseComplete: simulated nodes with slots free slots lease up to
// slots shards per request and complete each over NATS, as fast as the
// 3-voter cluster answers. A lease request is one committed TaskAssign
// (the leader handles them one at a time), a completion one TaskComplete
// (concurrent, so they batch).
func benchLeaseComplete(t *testing.T, slots int) {
	const workers, d = 32, 5 * time.Second
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, NoNodes: true})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, err := c.Leader().SubmitJob(context.Background(), "", fixtureJob(1_000_000)); err != nil {
		t.Fatal(err)
	}
	var shards, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		nc := c.Connect()
		id := fmt.Sprintf("sim%d", w)
		wg.Go(func() {
			for ctx.Err() == nil {
				n, err := leaseAndComplete(ctx, nc, id, slots)
				if err != nil && ctx.Err() == nil {
					errs.Add(1)
				}
				shards.Add(int64(n))
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	n := shards.Load()
	fmt.Printf("cp: lease+complete through 3 voters, %d-slot nodes: %.0f shard ops/s (%.0f shards leased and completed/s; %d shards, %d simulated nodes over NATS, %.1f s, %d errors)\n",
		slots, 2*float64(n)/secs, float64(n)/secs, n, workers, secs, errs.Load())
}

// leaseAndComplete leases up to free shards and completes them
// concurrently; it returns how many were completed.
func leaseAndComplete(ctx context.Context, nc *nats.Conn, id string, free int) (int, error) {
	var r protocol.LeaseReply
	req := protocol.LeaseRequest{Node: protocol.NodeInfo{ID: id, Backend: "cpu", Slots: free}, Free: free}
	if err := natsRequest(ctx, nc, protocol.SubjectLease, req, &r); err != nil {
		return 0, err
	}
	if r.Error != nil {
		return 0, r.Error
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(r.Assignments))
	for _, a := range r.Assignments {
		wg.Go(func() {
			tk := a.Task
			rep := protocol.CompleteReport{TaskKey: tk.TaskKey, Node: id, Attempt: tk.Attempt,
				Result: &protocol.ShardInfo{Node: id, Images: 1}}
			var ack protocol.Ack
			err := natsRequest(ctx, nc, protocol.SubjectComplete, rep, &ack)
			if err == nil && ack.Error != nil {
				err = ack.Error
			}
			if err != nil {
				errs <- err
				return
			}
			done.Add(1)
		})
	}
	wg.Wait()
	close(errs)
	return int(done.Load()), <-errs
}

// benchNodes: 64 real node agents (one slot, fixture executor) run a job
// of rounds×64 shards; the ideal is rounds×delay.
func benchNodes(t *testing.T, delay time.Duration) {
	const nodes, rounds = 64, 10
	f := &testcluster.Fixture{Delay: delay}
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: nodes, Executor: fixtureNodes(f)})
	waitFor(t, 30*time.Second, "64 nodes announced", func() bool { return len(c.Leader().Nodes()) == nodes })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	job, err := c.Client().SubmitJob(ctx, fixtureJob(nodes*rounds))
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitJob(ctx, job.ID)
	if err != nil || j.State != protocol.JobDone {
		t.Fatalf("job %+v: %v", j, err)
	}
	total := time.Since(start)
	starts := f.Starts()
	first := starts[0].At
	ideal := time.Duration(rounds) * delay
	fmt.Printf("cp: %d nodes x 1 slot, fixture %v/shard, %d shards: %.2f s from submit (ideal %.1f s) = %.1f %% of ideal; %.1f %% from the first lease; overhead %.0f ms per shard\n",
		nodes, delay, nodes*rounds, total.Seconds(), ideal.Seconds(), 100*ideal.Seconds()/total.Seconds(),
		100*ideal.Seconds()/(total-first.Sub(start)).Seconds(), float64((total-ideal).Milliseconds())/rounds)
}

// benchLeaderKill: 16 nodes run fixture shards; the leader is killed; the
// resume time is from the kill to the first execution of a lease the old
// leader never granted (so the new leader granted it). Three clusters.
func benchLeaderKill(t *testing.T) {
	var elect, resume []time.Duration
	for range 3 {
		e, r := leaderKillOnce(t)
		elect, resume = append(elect, e), append(resume, r)
	}
	fmt.Printf("cp: leader kill -> new leader %v, scheduling resumed %v (median of 3; max %v; 16 nodes, poll 100 ms, backoff cap 500 ms)\n",
		median(elect), median(resume), slices.Max(resume).Round(time.Millisecond))
}

func leaderKillOnce(t *testing.T) (elect, resume time.Duration) {
	f := &testcluster.Fixture{Delay: 200 * time.Millisecond}
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 16, Executor: fixtureNodes(f)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := c.Client().SubmitJob(ctx, fixtureJob(16*40))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "32 shards done", func() bool {
		j, _ := c.Leader().Store().JobByID(job.ID)
		return j.ShardsDone >= 32
	})
	old := c.LeaderIndex()
	killed := time.Now()
	c.KillLeader()
	c.LeaderIndex()
	elect = time.Since(killed)
	oldStore := c.Coordinator(old).Store()
	var at time.Time
	waitFor(t, 30*time.Second, "a lease from the new leader", func() bool {
		for _, s := range f.Starts() {
			if tk, _ := oldStore.TaskByKey(s.Task); s.Attempt > tk.Attempt {
				at = s.At
				return true
			}
		}
		return false
	})
	return elect, at.Sub(killed)
}

// benchNodeKill: a node is hard-killed mid-shard (fixture shards of 5 s);
// the time from the kill until its shard is requeued (etcd lease expiry
// seen by the leader, then the gone-node grace — half the task lease TTL,
// in which a restarted node would register again, coordinator/nodegone.go
// — then TaskFail committed). Three nodes of one cluster.
func benchNodeKill(t *testing.T) {
	const ttl, leaseTTL = 2 * time.Second, 20 * time.Second
	f := &testcluster.Fixture{Delay: 5 * time.Second}
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 4, NodeLeaseTTL: ttl, LeaseTTL: leaseTTL,
		Executor: fixtureNodes(f)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Client().SubmitJob(ctx, fixtureJob(100)); err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for i := range 3 {
		id := fmt.Sprintf("n%d", i)
		var victim protocol.Task
		waitFor(t, 30*time.Second, id+" holding a lease", func() bool {
			ls := c.Leader().Store().LeasesByNode()[id]
			if len(ls) > 0 {
				victim = ls[0]
			}
			return len(ls) > 0
		})
		c.KillNode(i)
		times = append(times, waitFor(t, 30*time.Second, "requeue", func() bool {
			tk, _ := c.Leader().Store().TaskByKey(victim.TaskKey)
			return tk.Attempt > victim.Attempt || tk.State == protocol.TaskQueued
		}))
	}
	fmt.Printf("cp: node kill -> shard requeued %v (median of 3; max %v; node lease TTL %v + gone-node grace %v, goal <= %v)\n",
		median(times), slices.Max(times).Round(time.Millisecond), ttl, leaseTTL/2, ttl+leaseTTL/2+2*time.Second)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}
