package testcluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// Lease-latency probe sizes: leases timed per probe (after warm-up), and
// the finished jobs put in the state between the two probes (issue #16
// point 4: "1,000 finished jobs in the state vs none").
const (
	probeLeases   = 2000
	probeWarmup   = 100
	historyJobs   = 1000
	historyWorker = 8
)

// latency is a probe's lease round trips (NATS request to reply, one
// committed TaskAssign each), sorted.
type latency []time.Duration

func (l latency) q(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }

// benchLeaseHistory measures one node's lease latency on two 3-voter
// clusters at once: one whose state holds no finished job, one holding
// 1,000 finished one-shard jobs. Leases alternate between them (order
// swapped every round) so that the shared box's noise hits both alike;
// the scheduler's pick must cost O(runnable jobs), not O(history)
// (docs/scale.md).
func benchLeaseHistory(t *testing.T) (before, after latency) {
	empty := testcluster.Start(t, testcluster.Options{Coordinators: 3, NoNodes: true})
	hist := testcluster.Start(t, testcluster.Options{Coordinators: 3, NoNodes: true})
	start := time.Now()
	for i := range historyJobs {
		spec := fixtureJob(1)
		// outputs of active jobs must not overlap; under the test's
		// directory so that their manifests land there
		spec.Output.URL = fmt.Sprintf("file://%s/history/%04d", hist.OutputDir, i)
		submitRetry(t, hist, spec)
	}
	drainJobs(t, hist)
	fmt.Printf("scale: %d one-shard jobs submitted and finished in %.1f s\n", historyJobs, time.Since(start).Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	probes := []*prober{newProber(t, empty, "probe-empty"), newProber(t, hist, "probe-history")}
	for round := range probeWarmup + probeLeases {
		for k := range probes {
			p := probes[(k+round)%2]
			d := p.lease(ctx, t)
			if round >= probeWarmup {
				p.l = append(p.l, d)
			}
		}
	}
	for _, p := range probes {
		slices.Sort(p.l)
	}
	return probes[0].l, probes[1].l
}

// prober is one simulated node leasing a probe job's shards one at a
// time, completing each (untimed) before its next lease.
type prober struct {
	name string
	nc   *nats.Conn
	l    latency
}

func newProber(t *testing.T, c *testcluster.Cluster, name string) *prober {
	spec := fixtureJob(probeWarmup + probeLeases)
	spec.Output.URL = "file://" + c.OutputDir + "/" + name
	submitRetry(t, c, spec)
	return &prober{name: name, nc: c.Connect()}
}

// lease times one lease round trip (retrying through a leader change,
// which then counts in the time) and completes the shard.
func (p *prober) lease(ctx context.Context, t *testing.T) time.Duration {
	t0 := time.Now()
	var r protocol.LeaseReply
	req := protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "prober", Backend: "cpu", Slots: 1}, Free: 1}
	for {
		r = protocol.LeaseReply{}
		err := natsRequest(ctx, p.nc, protocol.SubjectLease, req, &r)
		if err == nil && r.Error == nil && len(r.Assignments) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s lease: %d assignments, %v, %v", p.name, len(r.Assignments), err, r.Error)
		}
		fmt.Printf("scale: %s lease retried (a leader change on the loaded box?): %v %v\n", p.name, err, r.Error)
		time.Sleep(50 * time.Millisecond)
	}
	d := time.Since(t0)
	err := completeTask(ctx, p.nc, "prober", r.Assignments[0].Task)
	for try := 0; err != nil && try < 20; try++ { // through a leader change
		time.Sleep(50 * time.Millisecond)
		err = completeTask(ctx, p.nc, "prober", r.Assignments[0].Task)
	}
	if err != nil {
		t.Fatalf("%s complete: %v", p.name, err)
	}
	return d
}

// submitRetry submits spec under a fixed id (idempotent), retrying
// through leader changes: on 2 shared cores an election can happen.
func submitRetry(t *testing.T, c *testcluster.Cluster, spec protocol.JobSpec) {
	id := protocol.NewJobID()
	var err error
	for range 20 {
		if _, err = c.Leader().SubmitJob(context.Background(), id, spec); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("submitting %s: %v", spec.Output.URL, err)
}

func completeTask(ctx context.Context, nc *nats.Conn, node string, tk protocol.Task) error {
	rep := protocol.CompleteReport{TaskKey: tk.TaskKey, Node: node, Attempt: tk.Attempt,
		Result: &protocol.ShardInfo{Node: node, Images: int(tk.End - tk.Start)}}
	var ack protocol.Ack
	if err := natsRequest(ctx, nc, protocol.SubjectComplete, rep, &ack); err != nil {
		return err
	}
	if ack.Error != nil {
		return ack.Error
	}
	return nil
}

// drainJobs runs simulated 4-slot nodes until every submitted job is
// done.
func drainJobs(t *testing.T, c *testcluster.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for w := range historyWorker {
		nc := c.Connect()
		id := fmt.Sprintf("hist%d", w)
		wg.Go(func() {
			for ctx.Err() == nil {
				if n, _ := leaseAndComplete(ctx, nc, id, 4); n == 0 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	waitFor(t, 3*time.Minute, "history jobs done", func() bool {
		return len(c.Leader().Jobs(protocol.JobDone)) >= historyJobs
	})
	cancel()
	wg.Wait()
}
