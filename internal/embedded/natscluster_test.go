package embedded

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestNATSClusterApply: a listen address must be host:port; port 0 (and
// none given) is a free port, never NATS's default 6222; routes are
// nats:// URLs.
func TestNATSClusterApply(t *testing.T) {
	for _, c := range []struct {
		listen string
		port   int
		ok     bool
	}{{"", -1, true}, {"127.0.0.1:0", -1, true}, {"127.0.0.1:7222", 7222, true},
		{"127.0.0.1", 0, false}, {"127.0.0.1:x", 0, false}, {"127.0.0.1:70000", 0, false}, {"127.0.0.1:-2", 0, false}} {
		var o server.Options
		err := (&NATSCluster{Name: "c", ListenAddr: c.listen, Routes: []string{"127.0.0.1:1"}}).apply(&o)
		if (err == nil) != c.ok || c.ok && (o.Cluster.Port != c.port || len(o.Routes) != 1 || o.Routes[0].String() != "nats://127.0.0.1:1") {
			t.Errorf("listen %q: port %d, routes %v, err %v", c.listen, o.Cluster.Port, o.Routes, err)
		}
	}
	var o server.Options
	if err := (*NATSCluster)(nil).apply(&o); err != nil || o.Cluster.Name != "" {
		t.Errorf("no cluster: %v %+v", err, o.Cluster)
	}
}
