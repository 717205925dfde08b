package coordinator

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestGangAddressed: a gang's ranks address their traffic to each other
// (protocol.Assignment.Addressed, the only layout a per-node NATS user may
// read) when every rank's lease request announces it — what the node
// says with the request, not what the leader's etcd view may not have seen
// yet; a gang with a node of an earlier release keeps the old layout,
// which that node speaks.
func TestGangAddressed(t *testing.T) {
	_, srv := gangCluster(t, "n1", "n2", "n3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.SubmitJob(ctx, "j-addr", parallelSpec("sp:2", 4)); err != nil { // 2 shards
		t.Fatal(err)
	}
	req := func(id string, addressed bool) protocol.LeaseRequest {
		r := gangReq(id)
		if addressed {
			r.Node.Features = []string{protocol.FeatureGangAddressed}
		}
		return r
	}
	a1, a2 := pairReqs(ctx, srv, req("n1", true), req("n2", true))
	if a1.Group == "" || !a1.Addressed || !a2.Addressed {
		t.Fatalf("gang of two announcing nodes: addressed %v/%v (%+v)", a1.Addressed, a2.Addressed, a1)
	}
	b2, b3 := pairReqs(ctx, srv, req("n2", true), req("n3", false))
	if b2.Group == "" || b2.Group == a1.Group || b2.Addressed || b3.Addressed {
		t.Fatalf("gang with a node of an earlier release: addressed %v/%v (group %q)", b2.Addressed, b3.Addressed, b2.Group)
	}
}

// pairReqs has x open a gang and y join it, each asking until answered.
func pairReqs(ctx context.Context, srv *Server, x, y protocol.LeaseRequest) (ax, ay protocol.Assignment) {
	until := func(r protocol.LeaseRequest) protocol.LeaseReply {
		for {
			rep := srv.Lease(ctx, r)
			if !rep.Pending || ctx.Err() != nil {
				return rep
			}
		}
	}
	var wg sync.WaitGroup
	var rx, ry protocol.LeaseReply
	wg.Go(func() { rx = until(x) })
	time.Sleep(20 * time.Millisecond) // x opens, y joins
	wg.Go(func() { ry = until(y) })
	wg.Wait()
	if len(rx.Assignments) == 1 {
		ax = rx.Assignments[0]
	}
	if len(ry.Assignments) == 1 {
		ay = ry.Assignments[0]
	}
	return ax, ay
}
