package testcluster

import (
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
)

// splitNATS is two NATS servers in one cluster. Each listens for routes
// behind a proxy and advertises the proxy, so cutting both proxies
// partitions the servers (neither can dial the other) while each still
// serves its own clients: a leader on one reaches NATS, but not the nodes
// on the other.
type splitNATS struct {
	a, b    *embedded.NATS
	proxies []*embedtest.Proxy
}

func startSplitNATS(t testing.TB) *splitNATS {
	t.Helper()
	la, lb := embedtest.FreeAddr(t), embedtest.FreeAddr(t)
	pa, pb := embedtest.StartProxy(t, la), embedtest.StartProxy(t, lb)
	start := func(listen, advertise string, routes ...string) *embedded.NATS {
		n, err := embedded.StartNATS(embedded.NATSConfig{Cluster: &embedded.NATSCluster{Name: "farm", ListenAddr: listen,
			Advertise: advertise, Routes: routes}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return n
	}
	s := &splitNATS{proxies: []*embedtest.Proxy{pa, pb}}
	s.a = start(la, pa.Addr())
	s.b = start(lb, pb.Addr(), pa.Addr())
	s.waitRoutes(t, true)
	return s
}

// waitRoutes waits until each server has routes up (a pool of them), or
// none.
func (s *splitNATS) waitRoutes(t testing.TB, up bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for (s.a.Routes() > 0) != up || (s.b.Routes() > 0) != up {
		if time.Now().After(deadline) {
			t.Fatalf("NATS routes: %d and %d up, want them up: %v", s.a.Routes(), s.b.Routes(), up)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// coordNATS is the NATS URL of voter i: the first server for c0 with
// SplitNATS, else the cluster's one.
func (c *Cluster) coordNATS(i int) string {
	if c.split != nil && i == 0 {
		return c.split.a.URL()
	}
	return c.NATSURL
}

// CutRoute partitions the two NATS servers of SplitNATS (each keeps its
// clients), and waits until neither has a route.
func (c *Cluster) CutRoute() {
	c.t.Helper()
	for _, p := range c.split.proxies {
		p.Cut()
	}
	c.split.waitRoutes(c.t, false)
}

// RestoreRoute ends CutRoute's partition and waits for the route.
func (c *Cluster) RestoreRoute() {
	c.t.Helper()
	for _, p := range c.split.proxies {
		p.Restore()
	}
	c.split.waitRoutes(c.t, true)
}
