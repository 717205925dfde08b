package testcluster_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// scriptedExec is a fixture executor (no model: this is a scheduling
// test) that records every execution with its node and fails the shards
// in fail while failing is set.
type scriptedExec struct {
	node string
	s    *script
}

type script struct {
	mu      sync.Mutex
	delay   time.Duration
	failing bool
	fail    map[int]bool
	runs    []run
}

type run struct {
	node    string
	key     protocol.TaskKey
	attempt int
	at      time.Time
}

func (e scriptedExec) Execute(ctx context.Context, a protocol.Assignment, progress func(int)) (protocol.ShardInfo, error) {
	s := e.s
	s.mu.Lock()
	s.runs = append(s.runs, run{node: e.node, key: a.Task.TaskKey, attempt: a.Task.Attempt, at: time.Now()})
	fail := s.failing && s.fail[a.Task.Shard]
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return protocol.ShardInfo{}, ctx.Err()
	case <-time.After(s.delay):
	}
	if fail {
		return protocol.ShardInfo{}, errors.New("scripted failure")
	}
	n := int(a.Task.End - a.Task.Start)
	progress(n)
	return protocol.ShardInfo{Images: n, Reused: true}, nil
}

// runsOf returns the recorded executions of job (after since).
func (s *script) runsOf(job protocol.JobID, since time.Time) []run {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []run
	for _, r := range s.runs {
		if r.key.Job == job && !r.at.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// TestJobAndNodeControl (issue 14, point 1) on 3 voters and 2 nodes:
// pause → no lease; resume → the job completes; retry of a failed job →
// its failed shard runs again exactly once, as a fresh attempt; drain →
// the node gets nothing new; rm → every voter's state shrinks.
func TestJobAndNodeControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &script{delay: 150 * time.Millisecond, fail: map[int]bool{2: true}}
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 2,
		Executor: func(_ int, id string) node.Executor { return scriptedExec{node: id, s: s} }})
	cl := c.Client()

	// Pause: no lease while paused; resume: the job completes.
	job, err := cl.SubmitJob(ctx, fixtureJob(6))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Pause(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "paused job's running shards to finish", func() bool {
		c, _ := c.Leader().Store().TaskCounts(job.ID)
		return c.Leased == 0
	})
	paused := time.Now()
	time.Sleep(1500 * time.Millisecond) // ~15 lease polls per node
	if runs := s.runsOf(job.ID, paused); len(runs) != 0 {
		t.Fatalf("paused job ran %d shards: %+v", len(runs), runs)
	}
	if _, err := cl.Resume(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if j, err := c.WaitJob(ctx, job.ID); err != nil || j.State != protocol.JobDone {
		t.Fatalf("resumed job: %+v %v", j, err)
	}
	testRetry(ctx, t, c, s)
	testDrain(ctx, t, c, s)

	// rm: the job leaves every voter's state.
	if err := cl.Delete(ctx, job.ID, false); err != nil && protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatal(err)
	} else if err != nil { // the fixture writes no shard stats, so its manifest may still be pending
		if err := cl.Delete(ctx, job.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the deleted job gone from every voter", func() bool {
		for i := range 3 {
			if _, ok := c.Coordinator(i).Store().JobByID(job.ID); ok {
				return false
			}
		}
		return true
	})
}

// testRetry: shard 2 fails its 2 attempts, the job fails; after retry it
// runs once more (attempt 3) and the job is done; no done shard reruns.
func testRetry(ctx context.Context, t *testing.T, c *testcluster.Cluster, s *script) {
	cl := c.Client()
	spec := fixtureJob(4)
	spec.MaxAttempts = 2
	spec.Output.URL = "file:///fixture/retry"
	s.mu.Lock()
	s.failing = true
	s.mu.Unlock()
	job, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitJob(ctx, job.ID)
	if err != nil || j.State != protocol.JobFailed {
		t.Fatalf("job with a failing shard: %+v %v", j, err)
	}
	if c, _ := c.Leader().Store().TaskCounts(job.ID); c.Leased != 0 || c.Failed != 1 {
		t.Fatalf("failed job counts %+v", c)
	}
	s.mu.Lock()
	s.failing = false
	s.mu.Unlock()
	before, _ := c.Leader().Store().TaskCounts(job.ID)
	retried := time.Now()
	if j, err = cl.Retry(ctx, job.ID); err != nil || j.State.Terminal() {
		t.Fatalf("retry: %+v %v", j, err)
	}
	waitFor(t, 5*time.Second, "every voter to apply the retry", func() bool {
		for i := range 3 {
			if j, _ := c.Coordinator(i).Store().JobByID(job.ID); j.Retries != 1 {
				return false
			}
		}
		return true
	})
	if j, err = c.WaitJob(ctx, job.ID); err != nil || j.State != protocol.JobDone {
		t.Fatalf("retried job: %+v %v", j, err)
	}
	runs := s.runsOf(job.ID, retried)
	if len(runs) != 4-before.Done {
		t.Fatalf("after retry %d runs, want %d (the failed shard and the %d never done): %+v", len(runs), 4-before.Done, 4-before.Done-1, runs)
	}
	shard2 := 0
	for _, r := range runs {
		if r.key.Shard == 2 {
			shard2++
			if r.attempt != 3 {
				t.Fatalf("retried shard ran as attempt %d, want 3", r.attempt)
			}
		}
	}
	if shard2 != 1 {
		t.Fatalf("failed shard redone %d times, want 1", shard2)
	}
}

// testDrain: a drained node gets no shard of a new job; undrained, it
// gets work again.
func testDrain(ctx context.Context, t *testing.T, c *testcluster.Cluster, s *script) {
	cl := c.Client()
	if _, err := cl.Drain(ctx, "n0", false); err != nil {
		t.Fatal(err)
	}
	spec := fixtureJob(6)
	spec.Output.URL = "file:///fixture/drain"
	drained := time.Now()
	job, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := c.WaitJob(ctx, job.ID); err != nil || j.State != protocol.JobDone {
		t.Fatalf("job on a half-drained farm: %+v %v", j, err)
	}
	for _, r := range s.runsOf(job.ID, drained) {
		if r.node == "n0" {
			t.Fatalf("drained node ran %s", r.key)
		}
	}
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if (n.Info.ID == "n0") != (n.Control != nil) {
			t.Fatalf("node %s control %+v", n.Info.ID, n.Control)
		}
	}
	if _, err := cl.Undrain(ctx, "n0"); err != nil {
		t.Fatal(err)
	}
}
