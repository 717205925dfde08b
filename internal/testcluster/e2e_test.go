package testcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// tinyJob is a sana-tiny job small enough for a 2-core box: prompts×per
// images at 128², 2 steps, shardSize images per shard.
func tinyJob(out string, prompts, per, shardSize int) protocol.JobSpec {
	var ps []string
	for i := range prompts {
		ps = append(ps, fmt.Sprintf("a small red house number %d by a lake", i))
	}
	return protocol.JobSpec{Model: protocol.TinyPreset, Width: 128, Height: 128, Steps: 2, Seed: 42,
		ImagesPerPrompt: per, Prompts: protocol.PromptSource{Inline: ps},
		Output: protocol.OutputSpec{URL: "file://" + out}, ShardSize: shardSize}
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestLeaderKilledMidJob: 3 voters, 2 real sana-tiny nodes; the leader is
// killed mid-job; a new leader is elected within seconds, the job
// completes, and every shard's output exists exactly once and was
// completed once in the replicated state.
func TestLeaderKilledMidJob(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := filepath.Join(c.OutputDir, "leader-kill")
	job, err := c.Client().SubmitJob(ctx, tinyJob(out, 8, 2, 2)) // 8 shards × 2 images
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	if job.Shards != 8 || job.Images != 16 {
		t.Fatalf("job %+v", job)
	}
	waitFor(t, 60*time.Second, "2 shards done", func() bool {
		j, _ := c.Leader().Store().JobByID(job.ID)
		return j.ShardsDone >= 2
	})
	if j, _ := c.Leader().Store().JobByID(job.ID); j.State.Terminal() {
		t.Fatalf("job finished before the leader could be killed: %+v", j)
	}
	killedAt := time.Now()
	killed := c.KillLeader()
	next := c.LeaderIndex()
	failover := time.Since(killedAt)
	t.Logf("leader c%d killed; c%d leads after %v", killed, next, failover.Round(time.Millisecond))
	if next == killed || failover > 5*time.Second {
		t.Fatalf("new leader c%d after %v", next, failover)
	}
	j, err := c.WaitJob(ctx, job.ID)
	if err != nil || j.State != protocol.JobDone {
		t.Fatalf("job %+v: %v", j, err)
	}
	t.Logf("job done %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	st := c.Coordinator(next).Store()
	if n := st.Stats().Completions; n != 8 {
		t.Errorf("%d completions applied, want 8 (one per shard)", n)
	}
	checkOutput(t, out, st.TasksByJob(job.ID, 0, 0), 2)
}

// TestNodeKilledMidShard: a node is hard-killed while it generates a
// shard; its etcd lease expires, the leader requeues the shard with
// attempt+1, the other node completes it, and a late completion from the
// dead node's attempt is rejected as stale.
func TestNodeKilledMidShard(t *testing.T) {
	const nodeTTL, leaseTTL = 2 * time.Second, 6 * time.Second
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 2, NodeLeaseTTL: nodeTTL, LeaseTTL: leaseTTL})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := filepath.Join(c.OutputDir, "node-kill")
	job, err := c.Client().SubmitJob(ctx, tinyJob(out, 12, 2, 4)) // 6 shards × 4 images
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	var victim protocol.Task
	waitFor(t, 60*time.Second, "n0 mid-shard", func() bool {
		for _, tk := range c.Leader().Store().LeasesByNode()["n0"] {
			if tk.Progress >= 1 && tk.Progress < 4 {
				victim = tk
				return true
			}
		}
		return false
	})
	killedAt := time.Now()
	c.KillNode(0)
	t.Logf("n0 killed during shard %d attempt %d (%d/4 images)", victim.Shard, victim.Attempt, victim.Progress)

	gone := waitFor(t, nodeTTL+5*time.Second, "n0's etcd key to expire", func() bool {
		resp, err := c.Etcd.Get(ctx, protocol.NodeKey("n0"))
		return err == nil && len(resp.Kvs) == 0
	})
	requeued := waitFor(t, leaseTTL+5*time.Second, "the shard requeued", func() bool {
		tk, _ := c.Leader().Store().TaskByKey(victim.TaskKey)
		return tk.Attempt > victim.Attempt || (tk.State == protocol.TaskQueued && len(tk.Failures) > 0)
	}) + gone
	t.Logf("n0's etcd key gone %v after the kill, shard requeued %v after the kill", gone.Round(time.Millisecond),
		time.Since(killedAt).Round(time.Millisecond))
	// A gone node gets half a task lease TTL to register again or report
	// (coordinator/nodegone.go) before its leases are requeued.
	if limit := nodeTTL + leaseTTL/2 + 2*time.Second; requeued > limit {
		t.Errorf("requeue took %v, want ≤ node lease TTL + half the task lease TTL + 2 s = %v", requeued, limit)
	}
	// The dead node's attempt reports late: fenced.
	ack := lateCompletion(t, c.Connect(), victim)
	if ack.Error == nil || ack.Error.Code != protocol.CodeStaleAttempt {
		t.Fatalf("late completion of attempt %d: ack %+v, want %s", victim.Attempt, ack, protocol.CodeStaleAttempt)
	}

	j, err := c.WaitJob(ctx, job.ID)
	if err != nil || j.State != protocol.JobDone {
		t.Fatalf("job %+v: %v", j, err)
	}
	st := c.Leader().Store()
	tk, _ := st.TaskByKey(victim.TaskKey)
	if tk.State != protocol.TaskDone || tk.Attempt != victim.Attempt+1 || tk.Result == nil || tk.Result.Node != "n1" ||
		len(tk.Failures) != 1 || tk.Failures[0].Node != "n0" || tk.Failures[0].Reason != "node lost" {
		t.Errorf("requeued shard %+v (failures %+v)", tk, tk.Failures)
	}
	if n := st.Stats().Completions; n != 6 {
		t.Errorf("%d completions applied, want 6", n)
	}
	checkOutput(t, out, st.TasksByJob(job.ID, 0, 0), 4)
}

// lateCompletion sends a CompleteReport for the dead node's attempt, as
// the node would if it came back after its shard was reassigned.
func lateCompletion(t *testing.T, nc *nats.Conn, victim protocol.Task) protocol.Ack {
	t.Helper()
	rep := protocol.CompleteReport{TaskKey: victim.TaskKey, Node: "n0", Attempt: victim.Attempt,
		Result: &protocol.ShardInfo{Node: "n0", Images: int(victim.End - victim.Start)}}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := nc.Request(protocol.SubjectComplete, b, 5*time.Second)
	if err != nil {
		t.Fatalf("sending the late completion: %v", err)
	}
	var ack protocol.Ack
	if err := json.Unmarshal(msg.Data, &ack); err != nil {
		t.Fatal(err)
	}
	return ack
}

// checkOutput asserts every shard was completed once and its files exist
// exactly once: per images PNGs in its folder and a _stats.json from the
// attempt and node the coordinator recorded.
func checkOutput(t *testing.T, out string, tasks []protocol.Task, per int) {
	t.Helper()
	// A shard is published after its completion is accepted; the leader
	// writes the manifest once every shard is, its staging deleted.
	waitFor(t, 30*time.Second, "the job manifest", func() bool {
		_, err := os.Stat(filepath.Join(out, storage.ManifestParquet))
		return err == nil
	})
	pngs, stats := 0, 0
	err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case strings.HasSuffix(p, ".png"):
			pngs++
		case strings.HasSuffix(p, "_stats.json"):
			stats++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pngs != len(tasks)*per || stats != len(tasks) {
		t.Errorf("%d PNGs and %d stats files, want %d and %d", pngs, stats, len(tasks)*per, len(tasks))
	}
	for _, tk := range tasks {
		if tk.State != protocol.TaskDone || tk.Result == nil {
			t.Errorf("shard %d: %s", tk.Shard, tk.State)
			continue
		}
		entries, err := os.ReadDir(filepath.Join(out, storage.ShardDir("", tk.Shard)))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".png") {
				n++
			}
		}
		var s storage.ShardStats
		b, err := os.ReadFile(filepath.Join(out, storage.StatsKey("", tk.Shard)))
		if err == nil {
			err = json.Unmarshal(b, &s)
		}
		if err != nil || n != per || s.Images != per || s.Attempt != tk.Attempt || s.Node != tk.Result.Node {
			t.Errorf("shard %d: %d PNGs, stats %+v (%v); coordinator: attempt %d by %s", tk.Shard, n, s, err,
				tk.Attempt, tk.Result.Node)
		}
	}
}
