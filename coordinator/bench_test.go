package coordinator

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestHugeJobSubmit: a job of 1M prompts from a file (15625 shards of 64)
// commits as one small entry, and its tasks are served lazily.
func TestHugeJobSubmit(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	cl := client.New(srv.URL(), clusterToken)
	spec := protocol.JobSpec{Model: protocol.TinyPreset, Seed: 3,
		Prompts: protocol.PromptSource{URL: "s3://bucket/prompts.jsonl", Rows: 1_000_000},
		Output:  protocol.OutputSpec{URL: "s3://bucket/out", Format: "webdataset"}}
	start := time.Now()
	job, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("submitted %d shards in %v", job.Shards, time.Since(start))
	if job.Shards != 15625 || job.Images != 1_000_000 {
		t.Fatalf("job %+v", job)
	}
	d, err := cl.Job(ctx, job.ID, true, 15620, 10)
	if err != nil || len(d.Tasks) != 5 || d.Tasks[4].End != 1_000_000 || d.Counts.Queued != 15625 {
		t.Fatalf("detail %+v %v", d, err)
	}
	reply := srv.Lease(ctx, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n", Backend: "cpu", Slots: 4}, Free: 4})
	if reply.Error != nil || len(reply.Assignments) != 4 || reply.Assignments[3].Task.Start != 3*64 {
		t.Fatalf("lease %+v", reply)
	}
	if h, err := cl.Health(ctx); err != nil || h.Role != "leader" || h.Leader != srv.ID() {
		t.Fatalf("health %+v %v", h, err)
	}
	// The same id and spec again is the same job (idempotent retry).
	if again, err := cl.SubmitJobID(ctx, job.ID, spec); err != nil || again.ID != job.ID {
		t.Fatalf("resubmit: %+v %v", again, err)
	}
	spec.Seed++
	if _, err := cl.SubmitJobID(ctx, job.ID, spec); protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatalf("resubmit with another spec: %v", err)
	}
}

// BenchmarkLeaseComplete measures the leader's lease+complete throughput
// on one voter (Raft on disk): each iteration leases one shard and
// completes it, two committed entries. "direct" calls Server.Lease and
// Server.Complete (the NATS handlers' bodies); "nats" goes through the
// embedded NATS server like a node. RunParallel's goroutines act as
// concurrent nodes (-cpu sets how many per GOMAXPROCS).
func BenchmarkLeaseComplete(b *testing.B) {
	for _, mode := range []string{"direct", "nats"} {
		b.Run(mode, func(b *testing.B) {
			c := startCluster(b, 1, nil)
			c.serving(10 * time.Second)
			srv := c.members[0].srv
			ctx := context.Background()
			spec := protocol.JobSpec{Model: protocol.TinyPreset, ShardSize: 1,
				Prompts: protocol.PromptSource{URL: "/p.txt", Rows: int64(b.N) + 1}, Output: protocol.OutputSpec{URL: "/o"}}
			if _, err := srv.SubmitJob(ctx, "", spec); err != nil {
				b.Fatal(err)
			}
			nc := connectNATS(b, c.natsURL)
			var seq atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				node := fmt.Sprintf("n%d", seq.Add(1))
				for pb.Next() {
					if err := leaseAndComplete(ctx, srv, nc, mode == "nats", node); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "shards/s")
		})
	}
}

func leaseAndComplete(ctx context.Context, srv *Server, nc *nats.Conn, viaNATS bool, node string) error {
	req := protocol.LeaseRequest{Node: protocol.NodeInfo{ID: node, Backend: "cpu", Slots: 1}, Free: 1}
	for {
		var r protocol.LeaseReply
		if viaNATS {
			if err := request(ctx, nc, protocol.SubjectLease, req, &r); err != nil {
				return err
			}
		} else {
			r = srv.Lease(ctx, req)
		}
		if r.Error != nil {
			return r.Error
		}
		if len(r.Assignments) == 0 {
			continue // a concurrent pick took the same task
		}
		t := r.Assignments[0].Task
		rep := protocol.CompleteReport{TaskKey: t.TaskKey, Node: node, Attempt: t.Attempt,
			Result: &protocol.ShardInfo{Node: node, Images: 1}}
		var ack protocol.Ack
		if viaNATS {
			if err := request(ctx, nc, protocol.SubjectComplete, rep, &ack); err != nil {
				return err
			}
		} else {
			ack = srv.Complete(ctx, rep)
		}
		if ack.Error != nil {
			return ack.Error
		}
		return nil
	}
}
