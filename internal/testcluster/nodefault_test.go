package testcluster_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestNodeFaultKeepsAttempts: on 3 voters, one node's --allow-write does
// not cover the jobs' output, so the real pipeline executor refuses every
// shard it gets, reporting the refusal as its own fault. A job with
// max_attempts 1 still finishes on the other node (before, one refusal
// used up a shard's only attempt and failed the job), the refusals are
// recorded as the node's, and the node is blocklisted for the job. With
// the healthy node drained, a second job cannot run anywhere and fails —
// it does not wait for ever — naming the refusing node's reason.
func TestNodeFaultKeepsAttempts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	good := &script{delay: 300 * time.Millisecond}
	var refusing, healthy string
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 2,
		Executor: func(i int, id string) node.Executor {
			if i == 1 {
				healthy = id
				return scriptedExec{node: id, s: good}
			}
			refusing = id
			allow := testcluster.TestAccess()
			allow.Write = protocol.MustAllowList(os.TempDir()) // not /fixture
			return node.NewPipelineExecutor(node.PipelineConfig{Models: &node.ModelResolver{CacheRoot: t.TempDir()}, Node: id, Allow: allow})
		}})
	cl := c.Client()
	spec := fixtureJob(8)
	spec.MaxAttempts = 1
	j, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := c.WaitJob(ctx, j.ID); err != nil || j.State != protocol.JobDone {
		t.Fatalf("job with a refusing node and max_attempts 1: %+v %v", j, err)
	}
	tasks, err := cl.Tasks(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for _, tk := range tasks {
		for _, f := range tk.Failures {
			if f.Node != refusing || !f.NodeFault || !f.NoFault || !strings.Contains(f.Reason, "--allow-write") {
				t.Errorf("shard %d failure %+v: want the refusing node's own fault, not counted", tk.Shard, f)
			}
			refusals++
		}
	}
	if refusals == 0 {
		t.Fatal("the refusing node never got a shard: the test checked nothing")
	}
	if n := c.Leader().Store().View().FailuresOn(j.ID, refusing); n != refusals || n > 2 {
		t.Errorf("%d strikes on the refusing node for %d refusals, want one each and no more than the blocklist's 2", n, refusals)
	}

	if _, err := cl.Drain(ctx, healthy, false); err != nil {
		t.Fatal(err)
	}
	spec.Output.URL = "file:///fixture/out-2"
	j2, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	j2, err = c.WaitJob(ctx, j2.ID)
	if err != nil || j2.State != protocol.JobFailed || !strings.Contains(j2.Error, "blocklisted") || !strings.Contains(j2.Error, "--allow-write") {
		t.Fatalf("job that only the refusing node could take: %s %q %v; want failed, naming the blocklist and the refusal", j2.State, j2.Error, err)
	}
}
