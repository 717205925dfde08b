package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestCompleteDuplicate pins what a node retrying a completion whose reply
// was lost (node/task.go, complete) gets: the same shard+attempt again is
// acknowledged, before and after the job is done, and applied once; any
// other attempt of a done shard is still refused, and so is a report (result
// or failure) from a node that does not hold the lease.
func TestCompleteDuplicate(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = time.Minute })
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	job, err := srv.SubmitJob(ctx, "j-dup", testSpec(4)) // 2 shards
	if err != nil {
		t.Fatal(err)
	}
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 2}, Free: 2})
	if r.Error != nil || len(r.Assignments) != 2 {
		t.Fatalf("lease: %+v", r)
	}
	report := func(shard, attempt int) protocol.CompleteReport {
		return protocol.CompleteReport{TaskKey: protocol.TaskKey{Job: job.ID, Shard: shard}, Node: "n1", Attempt: attempt,
			Result: &protocol.ShardInfo{Node: "n1", Images: 2}}
	}
	other := report(0, 1)
	other.Node, other.Result.Node = "n2", "n2"
	otherFail := protocol.CompleteReport{TaskKey: other.TaskKey, Node: "n2", Attempt: 1, Error: "not mine"}
	steps := []struct {
		name          string
		rep           protocol.CompleteReport
		want          protocol.Code // "" is an acknowledgement
		wantJobDone   bool
		wantCompleted int
	}{
		{"a node that does not hold the lease", other, protocol.CodeStaleAttempt, false, 0},
		{"a failure from a node that does not hold the lease", otherFail, protocol.CodeStaleAttempt, false, 0},
		{"first completion", report(0, 1), "", false, 1},
		{"duplicate, job running", report(0, 1), "", false, 1},
		{"older attempt of a done shard", report(0, 0), protocol.CodeStaleAttempt, false, 1},
		{"newer attempt of a done shard", report(0, 2), protocol.CodeStaleAttempt, false, 1},
		{"last shard", report(1, 1), "", true, 2},
		{"duplicate of the last shard, job done", report(1, 1), "", true, 2},
		{"duplicate of an earlier shard, job done", report(0, 1), "", true, 2},
		{"other attempt, job done", report(1, 2), protocol.CodeConflict, true, 2},
	}
	for _, s := range steps {
		ack := srv.Complete(ctx, s.rep)
		if got := codeOrEmpty(ack.Error); got != s.want {
			t.Errorf("%s: ack %+v, want code %q", s.name, ack, s.want)
		}
		j, _ := srv.Store().JobByID(job.ID)
		if (j.State == protocol.JobDone) != s.wantJobDone || srv.Store().Stats().Completions != int64(s.wantCompleted) {
			t.Errorf("%s: job %s, %d completions applied, want done=%v and %d",
				s.name, j.State, srv.Store().Stats().Completions, s.wantJobDone, s.wantCompleted)
		}
	}
}

func codeOrEmpty(e *protocol.Error) protocol.Code {
	if e == nil {
		return ""
	}
	return e.Code
}
