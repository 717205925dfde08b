package testcluster_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestNodesCutFromLeaderHandOver: voter c0 leads from one NATS server; the
// other voters and both nodes are on another. Mid-job the route between
// the servers is cut: c0 still reaches its own server (its NATS link
// holds, and Raft keeps it leader), but no node request reaches it. The
// nodes say so in their announcements (node/reach.go), c0 hands the
// leadership to a voter on their server (coordinator/unheard.go), and the
// job completes whole.
func TestNodesCutFromLeaderHandOver(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{SplitNATS: true, NATSHandoverAfter: 2 * time.Second, UnreachableAfter: time.Second})
	if lead := c.LeaderIndex(); lead != 0 {
		if err := c.Coordinator(lead).TransferLeadership("c0"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "c0 leading", func() bool { return c.Coordinator(0).IsLeader() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	job, err := c.Client().SubmitJob(ctx, tinyJob(filepath.Join(c.OutputDir, "unheard"), 8, 2, 2)) // 8 shards × 2 images
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	waitFor(t, 60*time.Second, "a shard done", func() bool {
		j, _ := c.Leader().Store().JobByID(job.ID)
		return j.ShardsDone >= 1
	})
	c.CutRoute()
	cut := time.Now()
	waitFor(t, 30*time.Second, "a voter on the nodes' NATS server leading", func() bool {
		return c.Coordinator(1).IsLeader() || c.Coordinator(2).IsLeader()
	})
	t.Logf("route cut; c%d leads after %v", c.LeaderIndex(), time.Since(cut).Round(100*time.Millisecond))
	final, err := c.WaitJob(ctx, job.ID)
	if err != nil || final.State != protocol.JobDone {
		t.Fatalf("job %s: %v %s (%s)", job.ID, err, final.State, final.Error)
	}
	if c.Coordinator(0).IsLeader() {
		t.Fatal("c0, cut off from the nodes, leads again")
	}
}
