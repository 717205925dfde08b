package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestGangAddressed: a gang's ranks address their traffic to each other
// (protocol.Assignment.Addressed, the only layout a per-node NATS user may
// read) when every rank's node announces it; a gang with a node of an
// earlier release keeps the old layout, which that node speaks.
func TestGangAddressed(t *testing.T) {
	c, srv := gangCluster(t, "n1", "n2", "n3")
	for _, id := range []string{"n1", "n2"} {
		announceInfo(t, c.etcd, protocol.NodeInfo{ID: id, Backend: "cpu", Slots: 1, Features: []string{protocol.FeatureGangAddressed}})
	}
	waitFor(t, 5*time.Second, "features in the node view", func() bool { return srv.allNodesHave([]string{"n1", "n2"}, protocol.FeatureGangAddressed) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.SubmitJob(ctx, "j-addr", parallelSpec("sp:2", 4)); err != nil { // 2 shards
		t.Fatal(err)
	}
	a1, a2 := pair(ctx, srv, "n1", "n2")
	if a1.Group == "" || !a1.Addressed || !a2.Addressed {
		t.Fatalf("gang of two announcing nodes: addressed %v/%v (%+v)", a1.Addressed, a2.Addressed, a1)
	}
	b2, b3 := pair(ctx, srv, "n2", "n3")
	if b2.Group == "" || b2.Group == a1.Group || b2.Addressed || b3.Addressed {
		t.Fatalf("gang with a node of an earlier release: addressed %v/%v (group %q)", b2.Addressed, b3.Addressed, b2.Group)
	}
}
