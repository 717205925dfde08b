package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestRepliesCarryLeaderClock: a grant and a progress ack say the
// leader's clock at the answer, so a node reads the lease's deadline
// against it (node leaseDeadline) rather than against its own clock; the
// deadline is a lease TTL past it.
func TestRepliesCarryLeaderClock(t *testing.T) {
	skew := -time.Hour // the leader's clock an hour behind the machine's
	c := startCluster(t, 1, func(cfg *Config) { cfg.Clock = func() time.Time { return time.Now().Add(skew) } })
	srv := c.members[c.serving(10*time.Second)].srv
	if _, err := srv.SubmitJob(context.Background(), "j-clock", testSpec(2)); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, c.natsURL)
	var reply protocol.LeaseReply
	req := protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 1}, Free: 1}
	mustRequest(t, nc, protocol.SubjectLease, req, &reply)
	if reply.Error != nil || len(reply.Assignments) != 1 {
		t.Fatalf("lease: %+v", reply)
	}
	leaderNow := time.Now().Add(skew)
	if d := reply.Now.Sub(leaderNow).Abs(); d > 5*time.Second {
		t.Fatalf("grant's Now %v is %v off the leader's clock", reply.Now, d)
	}
	if ttl := reply.Assignments[0].Deadline.Sub(reply.Now); ttl <= 0 || ttl > srv.cfg.LeaseTTL {
		t.Errorf("grant's deadline %v after its Now, want within the lease TTL %v", ttl, srv.cfg.LeaseTTL)
	}
	a := reply.Assignments[0]
	var ack protocol.Ack
	mustRequest(t, nc, protocol.SubjectProgress, protocol.ProgressReport{TaskKey: a.Task.TaskKey, Node: "n1", Attempt: a.Task.Attempt, Done: 1}, &ack)
	if ack.Error != nil || ack.Deadline.Sub(ack.Now) != srv.cfg.LeaseTTL || ack.Now.Sub(leaderNow).Abs() > 5*time.Second {
		t.Fatalf("progress ack %+v: want Now on the leader's clock and the deadline a lease TTL past it", ack)
	}
}
