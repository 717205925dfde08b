package coordinator

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestJobTimeout: a job with a timeout is failed by the leader once it
// has passed — queued with no node, and running with a shard leased (the
// lease ends with it, and the node's next report is refused) — naming the
// timeout and what was done; a retry starts a new run with the whole
// timeout again. A job without one never times out. The leader's clock is
// moved forward, so nothing depends on how fast the machine is.
func TestJobTimeout(t *testing.T) {
	var ahead atomic.Int64
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.LeaseTTL = 24 * time.Hour // no lease expires as the clock moves
		cfg.Clock = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	srv := c.members[c.leader(10*time.Second)].srv
	ctx := context.Background()
	for _, id := range []protocol.JobID{"j-queued", "j-running"} {
		timed := testSpec(8)
		timed.Timeout = "1h"
		if _, err := srv.SubmitJob(ctx, id, timed); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.SubmitJob(ctx, "j-none", testSpec(8)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PauseJob(ctx, "j-queued", true); err != nil { // paused: its timeout still counts
		t.Fatal(err)
	}
	n1 := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 1, StartedAt: t0}
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: n1, Free: 1})
	if r.Error != nil || len(r.Assignments) != 1 || r.Assignments[0].Task.Job != "j-running" {
		t.Fatalf("lease: %+v", r)
	}
	held := r.Assignments[0].Task

	ahead.Store(int64(time.Hour + time.Second))
	for _, id := range []protocol.JobID{"j-queued", "j-running"} {
		waitFor(t, 10*time.Second, string(id)+" failed by its timeout", func() bool { return srv.mustJob(t, id).State == protocol.JobFailed })
		if j := srv.mustJob(t, id); !strings.Contains(j.Error, "timeout of 1h passed") || !strings.Contains(j.Error, "0 of 4 shards done") {
			t.Errorf("%s failed with %q, want its timeout and what was done named", id, j.Error)
		}
	}
	if len(srv.Store().LeasesByNode()["n1"]) != 0 {
		t.Error("the timed-out job's lease is still held")
	}
	if ack := srv.Progress(protocol.ProgressReport{TaskKey: held.TaskKey, Node: "n1", Attempt: held.Attempt, Done: 1}); ack.Error == nil {
		t.Error("progress on the timed-out job's shard was accepted")
	}
	if j := srv.mustJob(t, "j-none"); j.State.Terminal() {
		t.Errorf("a job without a timeout ended: %s %q", j.State, j.Error)
	}

	// A retry is a new run: the whole timeout again, from the retry.
	j, err := srv.RetryJob(ctx, "j-running")
	if err != nil || j.State.Terminal() {
		t.Fatalf("retrying the timed-out job: %+v %v", j, err)
	}
	time.Sleep(20 * srv.cfg.ProgressInterval) // ticks with the clock unmoved
	if j := srv.mustJob(t, "j-running"); j.State.Terminal() {
		t.Fatalf("the retried job ended before its new run's timeout: %s %q", j.State, j.Error)
	}
	ahead.Add(int64(time.Hour))
	waitFor(t, 10*time.Second, "the retried job failed by its timeout again", func() bool {
		return srv.mustJob(t, "j-running").State == protocol.JobFailed
	})
}
